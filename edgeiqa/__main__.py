from edgeiqa.cli import main

raise SystemExit(main())
