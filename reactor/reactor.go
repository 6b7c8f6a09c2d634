// Package reactor is gyre's front door: New returns a reactor on the
// platform's default backend, or on the one named by the GYRE_BACKEND
// environment variable.
//
// It sits above the backends, as database/sql sits above its drivers: the
// backends import package gyre for its types, so gyre itself cannot choose
// among them.
package reactor

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/gyre-go/gyre"
)

// EnvBackend is the environment variable that overrides the default backend.
const EnvBackend = "GYRE_BACKEND"

// Constructor builds a reactor of one backend.
type Constructor func(opts ...gyre.Option) (gyre.Reactor, error)

type backend struct {
	name string
	new  Constructor
	rank int // lower is preferred as the default
}

var backends []backend

func register(name string, rank int, c Constructor) {
	backends = append(backends, backend{name, c, rank})
	sort.SliceStable(backends, func(i, j int) bool { return backends[i].rank < backends[j].rank })
}

// Backends returns the names of the backends available on this platform,
// the default first.
func Backends() []string {
	names := make([]string, len(backends))
	for i, b := range backends {
		names[i] = b.name
	}
	return names
}

// Default returns the name of the backend New uses when GYRE_BACKEND is not
// set.
func Default() string { return backends[0].name }

// New returns a reactor on the backend named by GYRE_BACKEND, or on the
// platform's default backend if it is unset or empty.
func New(opts ...gyre.Option) (gyre.Reactor, error) {
	return NewBackend(os.Getenv(EnvBackend), opts...)
}

// NewBackend returns a reactor on the named backend; "" means the default.
func NewBackend(name string, opts ...gyre.Option) (gyre.Reactor, error) {
	if name == "" {
		name = Default()
	}
	c, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return c(opts...)
}

// Lookup returns the constructor of the named backend.
func Lookup(name string) (Constructor, error) {
	for _, b := range backends {
		if b.name == name {
			return b.new, nil
		}
	}
	return nil, fmt.Errorf("%w %q (available: %s)", ErrUnknownBackend, name, strings.Join(Backends(), ", "))
}

// ErrUnknownBackend is returned for a backend name that is not available on
// this platform.
var ErrUnknownBackend = errors.New("gyre: unknown backend")
