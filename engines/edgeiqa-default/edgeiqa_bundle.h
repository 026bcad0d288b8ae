/* Generated from manifest.json by edgeiqa (runtime/c_header.py); do not edit. */
#ifndef EDGEIQA_BUNDLE_H
#define EDGEIQA_BUNDLE_H

#define EDGEIQA_SCHEMA_VERSION 1
#define EDGEIQA_MODEL_BACKBONE "efficientnet-lite0"

/* Input: one tensor, uint8, [batch, ITEM_DIM0, ITEM_DIM1(, ITEM_DIM2)], C order. */
#define EDGEIQA_INPUT_NAME "frames"
#define EDGEIQA_INPUT_DTYPE "uint8"
#define EDGEIQA_INPUT_IS_UINT8 1
#define EDGEIQA_INPUT_LAYOUT "NHWC"
#define EDGEIQA_PIXEL_FORMAT "rgb"
#define EDGEIQA_ITEM_RANK 3
#define EDGEIQA_ITEM_DIM0 512
#define EDGEIQA_ITEM_DIM1 512
#define EDGEIQA_ITEM_DIM2 3
#define EDGEIQA_ITEM_BYTES 786432
#define EDGEIQA_MODEL_HEIGHT 512
#define EDGEIQA_MODEL_WIDTH 512
#define EDGEIQA_FRAME_HEIGHT 512
#define EDGEIQA_FRAME_WIDTH 512
#define EDGEIQA_BATCH_STATIC 0  /* 0: any batch */

/* Output: float32 [batch] on the MOS scale below. */
#define EDGEIQA_OUTPUT_NAME "score"
#define EDGEIQA_SCORE_LO 3.497585f
#define EDGEIQA_SCORE_HI 91.436170f
#define EDGEIQA_HIGHER_IS_BETTER 1
#define EDGEIQA_N_ATTRIBUTES 6
#define EDGEIQA_ATTRIBUTES_NAME "attributes"
#define EDGEIQA_ATTRIBUTE_NAMES {"blur", "exposure", "noise", "compression", "colour_cast", "broken"}

/* Model files, one per precision (relative to the bundle folder). */
#define EDGEIQA_N_MODELS 1
#define EDGEIQA_MODEL_FP32 "model.fp32.onnx"
#define EDGEIQA_MODEL_PRECISIONS {"fp32"}
#define EDGEIQA_MODEL_FILES {"model.fp32.onnx"}

#define EDGEIQA_REFERENCE_FRAMES "reference.frames.u8"
#define EDGEIQA_REFERENCE_COUNT 8

#endif /* EDGEIQA_BUNDLE_H */
