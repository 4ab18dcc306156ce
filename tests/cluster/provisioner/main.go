// Wrapper module: a hostPath volume provisioner for the real test node, as Minikube's
// storage-provisioner does it: each claim of the StorageClass gets a world-writable directory
// under -root on the node's host, removed when its volume is released.
package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

type hostPath struct{ root, node string }

func (p *hostPath) Provision(_ context.Context, o controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	dir := filepath.Join(p.root, o.PVC.Namespace, o.PVC.Name+"-"+o.PVName)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	// Pods run as any uid: the directory must be writable whatever the umask was.
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	hostPathType := v1.HostPathDirectory
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName, Annotations: map[string]string{"todo-chatbot.test/hostpath": dir}},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: *o.StorageClass.ReclaimPolicy,
			AccessModes:                   o.PVC.Spec.AccessModes,
			Capacity:                      v1.ResourceList{v1.ResourceStorage: o.PVC.Spec.Resources.Requests[v1.ResourceStorage]},
			PersistentVolumeSource: v1.PersistentVolumeSource{
				HostPath: &v1.HostPathVolumeSource{Path: dir, Type: &hostPathType},
			},
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: v1.NodeSelectorOpIn, Values: []string{p.node},
				}},
			}}}},
		},
	}, controller.ProvisioningFinished, nil
}

func (p *hostPath) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	dir := pv.Annotations["todo-chatbot.test/hostpath"]
	if dir == "" || filepath.Dir(filepath.Dir(dir)) != p.root {
		return errors.New("not a volume of this provisioner")
	}
	return os.RemoveAll(dir)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	root := flag.String("root", "", "directory holding the volumes")
	name := flag.String("name", "todo-chatbot.test/hostpath", "provisioner name (the StorageClass's provisioner)")
	node := flag.String("node", "", "the node the volumes live on")
	flag.Parse()
	if *kubeconfig == "" || *root == "" || *node == "" {
		klog.Fatal("-kubeconfig, -root and -node are required")
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(config)
	ctx := context.Background()
	pc := controller.NewProvisionController(ctx, client, *name, &hostPath{root: filepath.Clean(*root), node: *node},
		controller.LeaderElection(false))
	pc.Run(ctx)
}
