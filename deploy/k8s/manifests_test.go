package k8s

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// objects are the manifests' objects by kind and name.
type objects struct {
	pvcs     map[string]*corev1.PersistentVolumeClaim
	deploys  map[string]*appsv1.Deployment
	services map[string]*corev1.Service
	clusters map[string]*rayv1.RayCluster
}

// load decodes every document of every manifest strictly: an unknown or
// misspelt field, or a value of the wrong type, fails.
func load(t *testing.T) objects {
	t.Helper()
	o := objects{map[string]*corev1.PersistentVolumeClaim{}, map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}, map[string]*rayv1.RayCluster{}}
	files, _ := filepath.Glob("*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s #%d: %v", f, i, err)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 PersistentVolumeClaim":
				obj = &corev1.PersistentVolumeClaim{}
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "ray.io/v1 RayCluster":
				obj = &rayv1.RayCluster{}
			default:
				t.Fatalf("%s #%d: kind %q of %q: not one this test knows", f, i, tm.Kind, tm.APIVersion)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s #%d (%s): %v", f, i, tm.Kind, err)
			}
			var name string
			switch x := obj.(type) {
			case *corev1.PersistentVolumeClaim:
				name, o.pvcs[x.Name] = x.Name, x
			case *appsv1.Deployment:
				name, o.deploys[x.Name] = x.Name, x
			case *corev1.Service:
				name, o.services[x.Name] = x.Name, x
			case *rayv1.RayCluster:
				name, o.clusters[x.Name] = x.Name, x
			}
			if name == "" {
				t.Errorf("%s #%d (%s): no name", f, i, tm.Kind)
			}
		}
	}
	return o
}

func TestManifests(t *testing.T) {
	o := load(t)
	pvc := o.pvcs["graft-data"]
	serve := o.deploys["graft-serve"]
	svc := o.services["graft-serve"]
	rc := o.clusters["graft-ray"]
	if pvc == nil || serve == nil || svc == nil || rc == nil {
		t.Fatalf("want PVC graft-data, Deployment and Service graft-serve, RayCluster graft-ray; have %v %v %v %v", pvc != nil, serve != nil, svc != nil, rc != nil)
	}
	if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
		t.Errorf("the data volume is %v: every node mounts it, it must be ReadWriteMany", pvc.Spec.AccessModes)
	}

	// The daemon: one replica, the Ray launcher at the cluster's head
	// service, the shared volume.
	if *serve.Spec.Replicas != 1 || serve.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("graft serve: %d replicas, strategy %s; one daemon per data directory wants 1 and Recreate", *serve.Spec.Replicas, serve.Spec.Strategy.Type)
	}
	for k, v := range svc.Spec.Selector {
		if serve.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, the daemon's pods are labelled %v", k, v, serve.Spec.Template.Labels)
		}
	}
	c := serve.Spec.Template.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--launcher=ray", "--ray-address=http://" + rc.Name + "-head-svc:8265", "--data-dir=/data/"} {
		if !strings.Contains(args, want) {
			t.Errorf("graft serve's args lack %q: %s", want, args)
		}
	}
	if !strings.HasPrefix(c.Image, "graft:") {
		t.Errorf("graft serve runs image %q, want the project's graft image", c.Image)
	}
	mountsData(t, "graft serve", serve.Spec.Template.Spec, pvc.Name)

	// The Ray cluster: Ray's version, every pod on the shared volume
	// with graft in its image, a GPU group asking the device plugin.
	if rc.Spec.RayVersion != "2.60.0" {
		t.Errorf("RayCluster rayVersion %q, want 2.60.0 (make test-ray's)", rc.Spec.RayVersion)
	}
	mountsData(t, "the Ray head", rc.Spec.HeadGroupSpec.Template.Spec, pvc.Name)
	gpu := false
	for _, g := range rc.Spec.WorkerGroupSpecs {
		mountsData(t, "Ray group "+g.GroupName, g.Template.Spec, pvc.Name)
		for _, ct := range g.Template.Spec.Containers {
			if !strings.HasPrefix(ct.Image, "graft-ray:") {
				t.Errorf("group %s runs %q, want the graft-ray image (Ray with graft)", g.GroupName, ct.Image)
			}
			if q, ok := ct.Resources.Limits["nvidia.com/gpu"]; ok {
				gpu = true
				if q.Cmp(resource.MustParse("1")) < 0 {
					t.Errorf("group %s asks for %s GPUs", g.GroupName, q.String())
				}
			}
		}
	}
	if !gpu {
		t.Error("no worker group asks for nvidia.com/gpu")
	}
}

// mountsData checks that a pod mounts the claim at /data in every
// container: the daemon and every node see the same paths.
func mountsData(t *testing.T, what string, pod corev1.PodSpec, claim string) {
	t.Helper()
	vol := ""
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			vol = v.Name
		}
	}
	if vol == "" {
		t.Errorf("%s: no volume of the claim %s", what, claim)
		return
	}
	for _, c := range pod.Containers {
		ok := false
		for _, m := range c.VolumeMounts {
			ok = ok || (m.Name == vol && m.MountPath == "/data")
		}
		if !ok {
			t.Errorf("%s: container %s does not mount %s at /data", what, c.Name, claim)
		}
	}
}
