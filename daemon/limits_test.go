package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A budget gives what it has, refuses with ErrBusy what does not fit in
// time, and gives again once released.
func TestBudget(t *testing.T) {
	b := newBudget(10)
	ctx := context.Background()
	if err := b.acquire(ctx, 7, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 4, 10*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("over the budget: %v", err)
	}
	done := make(chan error)
	go func() { done <- b.acquire(ctx, 4, time.Minute) }()
	b.release(7)
	if err := <-done; err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if b.inUse() != 4 {
		t.Errorf("in use %d, want 4", b.inUse())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.acquire(cctx, 7, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// fakeListener hands out one end of pipes whose remote address is set.
type fakeListener struct{ conns chan net.Conn }

func (l *fakeListener) Accept() (net.Conn, error) { return <-l.conns, nil }
func (l *fakeListener) Close() error              { return nil }
func (l *fakeListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// dialFrom connects to g from ip and returns the client's end and the
// server's accepted connection, or nil when refused (the client's end
// then reads the 503).
func dialFrom(t *testing.T, l *fakeListener, g *connGuard, ip string) (io.Reader, net.Conn) {
	t.Helper()
	server, client := net.Pipe()
	l.conns <- addrConn{server, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := g.Accept()
		accepted <- c
	}()
	first := make(chan []byte, 1)
	go func() {
		b := make([]byte, 1)
		n, _ := client.Read(b)
		first <- b[:n]
	}()
	select {
	case c := <-accepted:
		return client, c
	case b := <-first:
		// Refused: Accept waits for the next connection; give it one
		// from the loopback and close it.
		s2, _ := net.Pipe()
		l.conns <- addrConn{s2, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
		(<-accepted).Close()
		return io.MultiReader(bytes.NewReader(b), client), nil
	}
}

// Issue 22, defect 11: one address other than the loopback holds at most
// perAddr connections (one more is answered 503 naming the flag); other
// addresses and the loopback are not held by it; a closed connection
// frees its place. Pending connections beyond the cap close the oldest.
func TestConnGuard(t *testing.T) {
	l := &fakeListener{conns: make(chan net.Conn, 4)}
	g := newConnGuard(l, 4, 2)
	var keep []net.Conn
	for range 2 {
		_, c := dialFrom(t, l, g, "192.0.2.7")
		if c == nil {
			t.Fatal("a connection within the per-address cap was refused")
		}
		keep = append(keep, c)
	}
	client, c := dialFrom(t, l, g, "192.0.2.7")
	if c != nil {
		t.Fatal("a third connection from one address was accepted with a cap of 2")
	}
	b, _ := io.ReadAll(client)
	if !strings.Contains(string(b), "503") || !strings.Contains(string(b), "max-connections-per-address") {
		t.Errorf("the refused connection read %q", b)
	}
	if _, c := dialFrom(t, l, g, "192.0.2.8"); c == nil {
		t.Error("another address was refused")
	}
	keep[0].Close()
	if _, c := dialFrom(t, l, g, "192.0.2.7"); c == nil {
		t.Error("a place freed by a close was not given again")
	}
	// Four pending connections fill the pool: each loopback one (not held
	// by the per-address cap) closes the one that waited longest.
	first := keep[1]
	for range 3 {
		if _, c := dialFrom(t, l, g, "127.0.0.1"); c == nil {
			t.Fatal("a loopback connection was refused")
		}
	}
	if _, err := first.Write([]byte("x")); err == nil {
		t.Error("the longest pending connection was not closed for a new one")
	}
}
