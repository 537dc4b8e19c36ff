// Command etcd is an etcd server built from go.etcd.io/etcd/server/v3 for
// meshsign's Kubernetes test harness.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
