// Package pgtest gives tests a fresh, empty PostgreSQL database per call.
//
// The server comes from, in order:
//
//  1. TRAILSPARK_TEST_POSTGRES_URL: a postgres:// URL of a server the tests
//     may create and drop databases on (the database named in the URL is used
//     only to run CREATE/DROP DATABASE);
//  2. a throwaway server started once per test binary from initdb and
//     postgres found in PATH or /usr/lib/postgresql/*/bin, with its data in
//     a temporary directory, listening on a free port of 127.0.0.1, and with
//     fsync off. When the test runs as root it runs as the "postgres" system
//     user, as PostgreSQL refuses to run as root.
//
// When neither is available the test is skipped, unless
// TRAILSPARK_REQUIRE_POSTGRES=1, when it fails (so CI cannot pass by
// skipping).
//
// A package whose tests call URL should use Main (or Run) in TestMain, so the
// throwaway server is stopped when the tests end; the server is also killed
// if the test process dies (Pdeathsig).
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Environment variables.
const (
	// EnvURL names a server to use instead of starting one.
	EnvURL = "TRAILSPARK_TEST_POSTGRES_URL"
	// EnvRequire set to 1 turns "no PostgreSQL" from a skip into a failure.
	EnvRequire = "TRAILSPARK_REQUIRE_POSTGRES"
)

// startTimeout bounds initdb plus the server's start.
const startTimeout = 2 * time.Minute

var (
	once   sync.Once
	srv    *server
	srvErr error
)

// server is where databases are created.
type server struct {
	admin *url.URL // connects to a maintenance database

	// Set for a server this package started.
	cmd  *exec.Cmd
	dir  string
	exit chan struct{} // closed when cmd has exited
}

// URL returns the connection URL of a new, empty database, dropped by
// t.Cleanup. It skips (or, with TRAILSPARK_REQUIRE_POSTGRES=1, fails) t when
// no PostgreSQL server can be had.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { srv, srvErr = getServer() })
	if srvErr != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("pgtest: PostgreSQL required (%s=1) but unavailable: %v", EnvRequire, srvErr)
		}
		t.Skipf("pgtest: no PostgreSQL (set %s to a server URL, or install initdb and postgres): %v", EnvURL, srvErr)
	}
	name := "trailspark_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends connections a test left open (PostgreSQL 13+).
		err := srv.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42601" { // syntax error: an older server
			err = srv.exec(ctx, "DROP DATABASE IF EXISTS "+name)
		}
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *srv.admin
	u.Path = "/" + name
	return u.String()
}

// Main runs the tests, stops the server this package started (if any) and
// exits with the tests' status: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests and stops the server; it returns m.Run's exit code, for
// a TestMain that has more to check afterwards (a goroutine-leak check).
func Run(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the server this package started and removes its files. URL
// must not be called afterwards.
func Stop() {
	if srv == nil || srv.cmd == nil {
		return
	}
	// SIGQUIT is PostgreSQL's immediate shutdown: nothing needs to survive.
	_ = srv.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-srv.exit:
	case <-time.After(10 * time.Second):
		_ = srv.cmd.Process.Kill()
		<-srv.exit
	}
	_ = os.RemoveAll(srv.dir)
	srv.cmd = nil
}

func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func getServer() (*server, error) {
	if raw := os.Getenv(EnvURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, fmt.Errorf("%s must be a postgres:// URL", EnvURL)
		}
		s := &server{admin: u}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "SELECT 1"); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvURL, err)
		}
		return s, nil
	}
	return startServer()
}

// findBinaries returns the directory holding initdb and postgres.
func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := exec.LookPath("postgres"); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first.
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("initdb and postgres not found in PATH or /usr/lib/postgresql/*/bin")
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

func startServer() (*server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	// Resolve symlinks: postgres finds its share directory relative to
	// its own real location.
	initdb, err := filepath.EvalSymlinks(filepath.Join(bin, "initdb"))
	if err != nil {
		return nil, err
	}
	postgres, err := filepath.EvalSymlinks(filepath.Join(bin, "postgres"))
	if err != nil {
		return nil, err
	}

	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: no postgres user to run it as: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	dir, err := os.MkdirTemp("", "trailspark-pgtest-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	// The port is free when chosen but could be taken before postgres binds
	// it; then postgres exits and another port is tried.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := launch(ctx, postgres, dir, data, cred)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func launch(ctx context.Context, postgres, dir, data string, cred *syscall.Credential) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(postgres, "-D", data,
		"-p", strconv.Itoa(port),
		"-k", dir, // unix socket in the temp dir, not /var/run/postgresql
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=400",
		"-c", "shared_buffers=64MB",
	)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig kills the server if the test process dies without Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &server{
		admin: &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Path: "/postgres", RawQuery: "sslmode=disable"},
		cmd:  cmd,
		dir:  dir,
		exit: make(chan struct{}),
	}
	go func() { _ = cmd.Wait(); close(s.exit) }()

	for {
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.exec(pingCtx, "SELECT 1")
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exit:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited at start: %s", bytes.TrimSpace(log))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-s.exit
			return nil, fmt.Errorf("postgres did not accept connections: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
