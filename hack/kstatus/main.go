// kstatus reads Kubernetes objects (JSON, one per line) on stdin and prints, for each, the status that
// sigs.k8s.io/cli-utils' kstatus computes: the reading Flux, kpt and other GitOps tools wait on
// (InProgress, Current, Failed, ...). The tests use it to check what such tools make of Airlock's objects.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		// Unstructured's own decoding keeps integers as int64, as kstatus's accessors expect.
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(in.Bytes()); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: not a Kubernetes object:", err)
			os.Exit(2)
		}
		res, err := status.Compute(obj)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(1)
		}
		_ = out.Encode(map[string]string{"status": res.Status.String(), "message": res.Message})
	}
}
