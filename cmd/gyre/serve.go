package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
	"github.com/gyre-go/gyre/reactor"
)

// server is what the demo servers share: flags for the backend, a reactor
// with the TCP facet, a logger, and a run that stops cleanly on SIGINT or
// SIGTERM (shutdown triggers run, connections close).
type server struct {
	fs      *flag.FlagSet
	backend *string
	log     *slog.Logger
	r       gyre.Reactor
	tcp     gyre.TCP
	ctx     context.Context // done on SIGINT or SIGTERM
	stop    context.CancelFunc
}

func newServer(name string) *server {
	s := &server{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	s.backend = s.fs.String("backend", "", "backend to run on (default "+reactor.Default()+"; one of "+strings.Join(reactor.Backends(), ", ")+")")
	s.log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	return s
}

// start parses the flags and makes the reactor. It returns an exit status
// and false when the program should stop.
func (s *server) start(args []string) (int, bool) {
	if err := s.fs.Parse(args); err != nil {
		return 2, false
	}
	r, err := reactor.NewBackend(*s.backend, gyre.WithLogger(s.log))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2, false
	}
	tcp, ok := r.(gyre.TCP)
	if !ok {
		fmt.Fprintf(os.Stderr, "gyre: backend %s has no TCP support\n", *s.backend)
		return 2, false
	}
	s.r, s.tcp = r, tcp
	// Catch the signals before anything is announced, so that a signal
	// sent as soon as "listening" is logged still stops the server cleanly.
	s.ctx, s.stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return 0, true
}

// listen opens the listening port, or reports why it could not.
func (s *server) listen(addr string, f gyre.Factory) (gyre.Port, bool) {
	p, err := s.tcp.ListenTCP(addr, f)
	if err != nil {
		s.log.Error("cannot listen", "addr", addr, "err", err)
		s.r.FireSystemEvent(gyre.Shutdown)
		return nil, false
	}
	s.log.Info("listening", "addr", p.Addr().String(), "backend", backendName(*s.backend))
	return p, true
}

// run runs the reactor until SIGINT or SIGTERM and returns an exit status.
func (s *server) run() int {
	ctx := s.ctx
	defer s.stop()
	s.r.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		s.log.Info("shutting down")
		return nil
	})
	err := s.r.RunContext(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("reactor stopped", "err", err)
		return 1
	}
	s.log.Info("stopped")
	return 0
}

func backendName(name string) string {
	if name == "" {
		return reactor.Default()
	}
	return name
}
