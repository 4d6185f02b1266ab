package storetest

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// EtcdServer is a single-member etcd server running in the test process
// on free loopback ports, with its data in a temporary directory.
type EtcdServer struct {
	dir        string
	clientURL  url.URL
	peerURL    url.URL
	etcd       *embed.Etcd
	startLimit time.Duration
}

// StartEtcd starts an etcd server for t; it is stopped and its data
// removed when t ends.
func StartEtcd(t testing.TB) *EtcdServer {
	t.Helper()
	clientPort, err1 := freePort()
	peerPort, err2 := freePort()
	if err1 != nil || err2 != nil {
		t.Fatalf("failed to find free ports: %v %v", err1, err2)
	}
	s := &EtcdServer{
		dir:        t.TempDir(),
		clientURL:  url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)},
		peerURL:    url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)},
		startLimit: 30 * time.Second,
	}
	if err := s.Start(); err != nil {
		unavailable(t, "embedded etcd failed to start: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Endpoints returns the client URLs of the server.
func (s *EtcdServer) Endpoints() []string { return []string{s.clientURL.String()} }

// Start starts the server (again) on its ports and data directory and
// waits until it serves.
func (s *EtcdServer) Start() error {
	cfg := embed.NewConfig()
	cfg.Name = "storetest"
	cfg.Dir = filepath.Join(s.dir, "data")
	cfg.ListenClientUrls = []url.URL{s.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{s.clientURL}
	cfg.ListenPeerUrls = []url.URL{s.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{s.peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(s.dir, "etcd.log")}
	if _, err := os.Stat(cfg.Dir); err == nil {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
		s.etcd = e
		return nil
	case <-time.After(s.startLimit):
		e.Close()
		return fmt.Errorf("etcd not ready after %s", s.startLimit)
	}
}

// Stop stops the server; [EtcdServer.Start] starts it again with the same
// data.
func (s *EtcdServer) Stop() {
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}
