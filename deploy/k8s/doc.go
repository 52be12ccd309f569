// Package k8s holds the Kubernetes manifests for running graft serve next
// to a KubeRay RayCluster (docs/scale-out.md): pvc.yaml (the shared data
// volume), serve.yaml (the daemon's Deployment and Service) and
// raycluster.yaml (the Ray cluster with GPU and CPU worker groups). It
// has no code: its test decodes every manifest strictly against the
// Kubernetes API types and KubeRay's RayCluster type, and checks that the
// pieces refer to each other correctly.
package k8s
