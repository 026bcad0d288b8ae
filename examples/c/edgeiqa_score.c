/*
 * edgeiqa_score: the C reference consumer of an edgeiqa bundle, through the ONNX Runtime C API.
 *
 *   edgeiqa_score [-t THREADS] [-p PRECISION] [-b BATCH] [-v] BUNDLE_DIR FRAMES_FILE...
 *
 * Each FRAMES_FILE holds one or more frames, raw uint8 in the bundle's input layout
 * (edgeiqa_bundle.h: RGB [H, W, 3], or the camera's NV12 / I420 planes [H*3/2, W]), back to back.
 * Prints one line per frame: "FILE[i]<TAB>score" (then the attributes, when the bundle has them);
 * -v adds "run<TAB>FRAMES<TAB>MS" per Run call on stderr (the latency benchmarks/c_consumer.py reads).
 * Exit codes: 0 scored, 1 usage, 2 bad input (missing file, wrong size, wrong bundle), 3 ONNX
 * Runtime error. Everything it allocates is released on every path (checked under valgrind).
 *
 * The bundle's contract comes from edgeiqa_bundle.h (written by `edgeiqa export` beside the
 * manifest): nothing about tensors or sizes is hard-coded here.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgeiqa_bundle.h"
#include "onnxruntime_c_api.h"

#define MAX_BATCH 64

static const OrtApi *ort;
static long batch_size = 8;
static int verbose = 0;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* One place turns an OrtStatus into a message: returns 0 when ok. */
static int check(OrtStatus *status, const char *call) {
    if (status == NULL) return 0;
    fprintf(stderr, "edgeiqa_score: ONNX Runtime error in %s: %s\n", call, ort->GetErrorMessage(status));
    ort->ReleaseStatus(status);
    return 1;
}

typedef struct {
    OrtEnv *env;
    OrtSessionOptions *options;
    OrtSession *session;
    OrtMemoryInfo *memory;
} Model;

static void model_close(Model *m) {
    if (m->memory) ort->ReleaseMemoryInfo(m->memory);
    if (m->session) ort->ReleaseSession(m->session);
    if (m->options) ort->ReleaseSessionOptions(m->options);
    if (m->env) ort->ReleaseEnv(m->env);
    memset(m, 0, sizeof(*m));
}

static const char *model_file(const char *precision) {
    static const char *precisions[] = EDGEIQA_MODEL_PRECISIONS;
    static const char *files[] = EDGEIQA_MODEL_FILES;
    for (int i = 0; i < EDGEIQA_N_MODELS; i++)
        if (precision == NULL || strcmp(precisions[i], precision) == 0) return files[i];
    return NULL;
}

/* The session's input must be what the header says: a graph of another bundle is refused. */
static int check_input(Model *m) {
    OrtTypeInfo *info = NULL;
    const OrtTensorTypeAndShapeInfo *tensor = NULL;
    ONNXTensorElementDataType type;
    size_t rank = 0;
    int64_t dims[8] = {0};
    const int64_t want[] = {-1, EDGEIQA_ITEM_DIM0, EDGEIQA_ITEM_DIM1,
#if EDGEIQA_ITEM_RANK == 3
                            EDGEIQA_ITEM_DIM2
#endif
    };
    int bad = check(ort->SessionGetInputTypeInfo(m->session, 0, &info), "SessionGetInputTypeInfo") ||
              check(ort->CastTypeInfoToTensorInfo(info, &tensor), "CastTypeInfoToTensorInfo") ||
              check(ort->GetTensorElementType(tensor, &type), "GetTensorElementType") ||
              check(ort->GetDimensionsCount(tensor, &rank), "GetDimensionsCount");
    if (!bad && rank <= 8) bad = check(ort->GetDimensions(tensor, dims, rank), "GetDimensions");
    if (info) ort->ReleaseTypeInfo(info);
    if (bad) return 3;
    if (type != ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 || rank != EDGEIQA_ITEM_RANK + 1) {
        fprintf(stderr, "edgeiqa_score: the graph takes a rank-%zu tensor of type %d; edgeiqa_bundle.h says uint8 "
                        "rank %d: the header belongs to another bundle\n", rank, (int)type, EDGEIQA_ITEM_RANK + 1);
        return 2;
    }
    for (size_t i = 1; i < rank; i++) {
        if (dims[i] != want[i]) {
            fprintf(stderr, "edgeiqa_score: the graph's input dimension %zu is %lld; edgeiqa_bundle.h says %lld: "
                            "the header belongs to another bundle\n", i, (long long)dims[i], (long long)want[i]);
            return 2;
        }
    }
    return 0;
}

static int model_open(Model *m, const char *bundle, const char *precision, int threads) {
    const char *file = model_file(precision);
    if (file == NULL) {
        fprintf(stderr, "edgeiqa_score: the bundle has no %s graph (edgeiqa_bundle.h lists its precisions)\n",
                precision);
        return 2;
    }
    size_t n = strlen(bundle) + strlen(file) + 2;
    char *path = malloc(n);
    if (path == NULL) return 3;
    snprintf(path, n, "%s/%s", bundle, file);
    FILE *probe = fopen(path, "rb");
    if (probe == NULL) {
        fprintf(stderr, "edgeiqa_score: %s: %s\n", path, strerror(errno));
        free(path);
        return 2;
    }
    fclose(probe);
    int bad = check(ort->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "edgeiqa", &m->env), "CreateEnv") ||
              check(ort->CreateSessionOptions(&m->options), "CreateSessionOptions") ||
              check(ort->SetIntraOpNumThreads(m->options, threads), "SetIntraOpNumThreads") ||
              check(ort->SetSessionGraphOptimizationLevel(m->options, ORT_ENABLE_ALL), "SetGraphOptimizationLevel") ||
              check(ort->CreateSession(m->env, path, m->options, &m->session), "CreateSession") ||
              check(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &m->memory), "CreateCpuMemoryInfo");
    free(path);
    if (bad) return 3;
    return check_input(m);
}

/* Scores `count` frames at `pixels`; writes count scores (and attributes) to the outputs. */
static int model_run(Model *m, uint8_t *pixels, int64_t count, float *scores, float *attributes) {
    int64_t shape[] = {count, EDGEIQA_ITEM_DIM0, EDGEIQA_ITEM_DIM1,
#if EDGEIQA_ITEM_RANK == 3
                       EDGEIQA_ITEM_DIM2
#endif
    };
    const char *inputs[] = {EDGEIQA_INPUT_NAME};
#if EDGEIQA_N_ATTRIBUTES > 0
    const char *outputs[] = {EDGEIQA_OUTPUT_NAME, EDGEIQA_ATTRIBUTES_NAME};
    OrtValue *out[2] = {NULL, NULL};
    const size_t n_out = 2;
#else
    const char *outputs[] = {EDGEIQA_OUTPUT_NAME};
    OrtValue *out[1] = {NULL};
    const size_t n_out = 1;
#endif
    OrtValue *in = NULL;
    float *data = NULL;
    int bad = check(ort->CreateTensorWithDataAsOrtValue(m->memory, pixels, (size_t)count * EDGEIQA_ITEM_BYTES, shape,
                                                        EDGEIQA_ITEM_RANK + 1, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8,
                                                        &in), "CreateTensorWithDataAsOrtValue") ||
              check(ort->Run(m->session, NULL, inputs, (const OrtValue *const *)&in, 1, outputs, n_out, out), "Run") ||
              check(ort->GetTensorMutableData(out[0], (void **)&data), "GetTensorMutableData");
    if (!bad) memcpy(scores, data, (size_t)count * sizeof(float));
#if EDGEIQA_N_ATTRIBUTES > 0
    if (!bad) bad = check(ort->GetTensorMutableData(out[1], (void **)&data), "GetTensorMutableData");
    if (!bad) memcpy(attributes, data, (size_t)count * EDGEIQA_N_ATTRIBUTES * sizeof(float));
#else
    (void)attributes;
#endif
    for (size_t i = 0; i < n_out; i++)
        if (out[i]) ort->ReleaseValue(out[i]);
    if (in) ort->ReleaseValue(in);
    return bad ? 3 : 0;
}

static void print_frame(const char *file, long index, float score, const float *attributes) {
    printf("%s[%ld]\t%.6f", file, index, score);
#if EDGEIQA_N_ATTRIBUTES > 0
    static const char *names[] = EDGEIQA_ATTRIBUTE_NAMES;
    for (int a = 0; a < EDGEIQA_N_ATTRIBUTES; a++) printf("\t%s=%.6f", names[a], attributes[a]);
#else
    (void)attributes;
#endif
    printf("\n");
}

/* Every frame of one file, batch_size (or the bundle's static batch) at a time. */
static int score_file(Model *m, const char *name) {
    FILE *fh = fopen(name, "rb");
    if (fh == NULL) {
        fprintf(stderr, "edgeiqa_score: %s: %s\n", name, strerror(errno));
        return 2;
    }
    int rc = 0;
    long size = -1;
    if (fseek(fh, 0, SEEK_END) == 0) size = ftell(fh);
    rewind(fh);
    if (size <= 0 || size % EDGEIQA_ITEM_BYTES != 0) {
        fprintf(stderr, "edgeiqa_score: %s: %ld bytes is not a whole number of %s frames of %d bytes "
                        "(%s, %dx%d); convert it to the bundle's input layout first\n",
                name, size, EDGEIQA_PIXEL_FORMAT, EDGEIQA_ITEM_BYTES, EDGEIQA_INPUT_LAYOUT, EDGEIQA_FRAME_WIDTH,
                EDGEIQA_FRAME_HEIGHT);
        fclose(fh);
        return 2;
    }
    const long frames = size / EDGEIQA_ITEM_BYTES;
    const long batch = EDGEIQA_BATCH_STATIC > 0 ? EDGEIQA_BATCH_STATIC : batch_size;
    uint8_t *pixels = calloc((size_t)batch, EDGEIQA_ITEM_BYTES);
    float *scores = calloc((size_t)batch, sizeof(float));
    float *attributes = calloc((size_t)batch * (EDGEIQA_N_ATTRIBUTES + 1), sizeof(float));
    if (pixels == NULL || scores == NULL || attributes == NULL) {
        fprintf(stderr, "edgeiqa_score: out of memory\n");
        rc = 3;
    }
    for (long start = 0; rc == 0 && start < frames; start += batch) {
        long n = frames - start < batch ? frames - start : batch;
        if (fread(pixels, EDGEIQA_ITEM_BYTES, (size_t)n, fh) != (size_t)n) {
            fprintf(stderr, "edgeiqa_score: %s: short read at frame %ld\n", name, start);
            rc = 2;
            break;
        }
        /* A static-batch graph takes exactly its batch: the tail is padded (zeros) and dropped. */
        double t0 = now_ms();
        rc = model_run(m, pixels, EDGEIQA_BATCH_STATIC > 0 ? batch : n, scores, attributes);
        if (verbose && rc == 0) fprintf(stderr, "run\t%ld\t%.3f\n", n, now_ms() - t0);
        for (long i = 0; rc == 0 && i < n; i++)
            print_frame(name, start + i, scores[i], attributes + i * EDGEIQA_N_ATTRIBUTES);
    }
    free(attributes);
    free(scores);
    free(pixels);
    fclose(fh);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: edgeiqa_score [-t THREADS] [-p PRECISION] [-b BATCH] [-v] BUNDLE_DIR FRAMES_FILE...\n"
                    "  frames: raw uint8 %s %s, %d bytes each, back to back\n",
            EDGEIQA_PIXEL_FORMAT, EDGEIQA_INPUT_LAYOUT, EDGEIQA_ITEM_BYTES);
    return 1;
}

int main(int argc, char **argv) {
    int threads = 0; /* 0: ONNX Runtime's default */
    const char *precision = NULL; /* NULL: the first graph edgeiqa_bundle.h lists */
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            i--;
            continue;
        }
        if (i + 1 >= argc) return usage();
        if (strcmp(argv[i], "-t") == 0) threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-p") == 0) precision = argv[i + 1];
        else if (strcmp(argv[i], "-b") == 0) batch_size = atol(argv[i + 1]);
        else return usage();
    }
    if (argc - i < 2 || threads < 0 || batch_size < 1 || batch_size > MAX_BATCH) return usage();
    const OrtApiBase *base = OrtGetApiBase();
    ort = base->GetApi(ORT_API_VERSION);
    if (ort == NULL) {
        fprintf(stderr, "edgeiqa_score: the ONNX Runtime library (%s) does not provide C API version %d; link a "
                        "library at least as new as the header\n", base->GetVersionString(), ORT_API_VERSION);
        return 3;
    }
    Model m = {0};
    int rc = model_open(&m, argv[i], precision, threads);
    for (int f = i + 1; rc == 0 && f < argc; f++) rc = score_file(&m, argv[f]);
    model_close(&m);
    return rc;
}
