from upres.cli import main

raise SystemExit(main())
