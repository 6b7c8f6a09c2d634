package harness

import (
	"fmt"
	"slices"
	"strings"
)

// Registry is a benchmark's list of servers by name, in the order they were
// registered: gyre's first, then the peers. F is the benchmark's way of
// starting one.
type Registry[F any] struct {
	entries []registryEntry[F]
}

type registryEntry[F any] struct {
	name, about string
	serve       F
}

// Register adds a server with a one-line description.
func (r *Registry[F]) Register(name, about string, serve F) {
	r.entries = append(r.entries, registryEntry[F]{name, about, serve})
}

// Names returns the names of all servers, in registration order.
func (r *Registry[F]) Names() []string {
	names := make([]string, len(r.entries))
	for i, e := range r.entries {
		names[i] = e.name
	}
	return names
}

// About returns the description of the named server, or "".
func (r *Registry[F]) About(name string) string {
	if i := r.index(name); i >= 0 {
		return r.entries[i].about
	}
	return ""
}

// Lookup returns the named server's start function.
func (r *Registry[F]) Lookup(name string) (F, error) {
	if i := r.index(name); i >= 0 {
		return r.entries[i].serve, nil
	}
	var zero F
	return zero, fmt.Errorf("unknown server %q (known: %s)", name, strings.Join(r.Names(), ", "))
}

// Known reports whether name is a registered server.
func (r *Registry[F]) Known(name string) bool { return r.index(name) >= 0 }

func (r *Registry[F]) index(name string) int {
	return slices.IndexFunc(r.entries, func(e registryEntry[F]) bool { return e.name == name })
}
