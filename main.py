"""The cdk8s app: `cdk8s synth` (or `python main.py`) renders every environment into $CDK8S_OUTDIR (dist/).

Same output as `mlflow-gitops synth`; environments come from environments/ (or the built-in default).
"""

import os
import sys

from mlflow_gitops.cli import main

if __name__ == "__main__":
    sys.exit(main(["synth", "--out", os.environ.get("CDK8S_OUTDIR", "dist")]))
