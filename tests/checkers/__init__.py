"""Independent Kubernetes checkers (kubeconform, kube-score, pluto, netpol-analyzer, kube-linter) run on the render."""
