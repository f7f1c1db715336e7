import sys

from mlflow_gitops.cli import main

sys.exit(main())
