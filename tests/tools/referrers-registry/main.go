// referrers-registry: go-containerregistry's registry (the one `crane registry serve` runs) with
// its OCI 1.1 referrers API switched on (`crane registry serve` leaves it off), for the fetcher's
// tests of /v2/<name>/referrers/<digest>. Loopback test use only; in-memory.
//
// usage: referrers-registry --address 127.0.0.1:PORT
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("address", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	log.Printf("serving on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, registry.New(registry.WithReferrersSupport(true))))
}
