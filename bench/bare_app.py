"""The floor: a bare cdk8s app (import cdk8s and cdk8s_plus_28, one object, synth to a temp folder)."""

import os
import sys
import tempfile

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import cdk8s
import cdk8s_plus_28  # noqa: F401
from cdk8s_plus_28 import k8s

outdir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
app = cdk8s.App(outdir=outdir)
chart = cdk8s.Chart(app, "bare")
k8s.KubeConfigMap(chart, "cm", metadata=k8s.ObjectMeta(name="bare"), data={"a": "b"})
app.synth()
