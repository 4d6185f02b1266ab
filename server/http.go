package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpHandler serves /metrics, /healthz (liveness: 200 while the process
// runs), /readyz (readiness: 200 once a policy snapshot is loaded) and, when
// enabled, /debug/pprof/.
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReadyz)
	if s.conf.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// readyzBody is the JSON body of /readyz.
type readyzBody struct {
	Ready bool `json:"ready"`
	Store any  `json:"store"`
}

// serveReadyz responds 200 once the first policy snapshot is loaded and 503
// before, with the store detail in both cases. A snapshot older than
// store.max_staleness keeps the server ready: checks are denied with
// policy_unavailable instead, and the detail shows "usable": false.
func (s *Server) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	body := readyzBody{Ready: s.readiness.Ready(), Store: s.readiness.Detail()}
	w.Header().Set("Content-Type", "application/json")
	if !body.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if err := json.NewEncoder(w).Encode(body); err != nil {
		s.logger.Warn("failed to write /readyz response", "error", err)
	}
}
