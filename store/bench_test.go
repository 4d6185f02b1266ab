package store

// Benchmarks of the policy store, recorded in docs/benchmarks.md. Run them
// one at a time, for example:
//
//	go test ./store/ -run '^$' -bench 'Propagation' -benchtime 40x
//	go test ./store/ -run '^$' -bench 'FullReload' -benchtime 3x -timeout 30m

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/store/storetest"
)

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// benchPropagation measures the time from a grant write returning to the
// first decision that reflects it, with the default debounce.
func benchPropagation(b *testing.B, st Store, write func(ctx context.Context, grant bool) error) {
	t := &testing.T{}
	compile := engineCompiler(t)
	r, err := NewReloader(st, compile, ReloaderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	if err := r.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		grant := i%2 == 0
		want := evaluator.ReasonImplicitDeny
		if grant {
			want = evaluator.ReasonAllowed
		}
		if err := write(ctx, grant); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for listServers(t, r, "u-0005").Reason != want {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("change %d did not arrive within 30s", i)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 50).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
}

var benchGrant = evaluator.Grant{Policy: "ECS ReadOnlyAccess", UserID: "u-0005",
	Scope: evaluator.ScopeProject, ScopeID: exampleProject}

func writerToggle(w Writer) func(ctx context.Context, grant bool) error {
	return func(ctx context.Context, grant bool) error {
		if grant {
			_, err := w.Put(ctx, Object{Grant: &benchGrant}, AnyVersion)
			return err
		}
		return w.Delete(ctx, KindGrant, GrantKey(benchGrant), AnyVersion)
	}
}

func BenchmarkPropagationFile(b *testing.B) {
	dir := b.TempDir()
	if err := WriteDir(dir, loadExampleB(b)); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "extra.yaml")
	line := fmt.Sprintf("grants:\n  - {policy: %q, user: %s, scope: project, scope_id: %s}\n",
		benchGrant.Policy, benchGrant.UserID, benchGrant.ScopeID)
	benchPropagation(b, NewFileStore(dir), func(_ context.Context, grant bool) error {
		if grant {
			return writeFileAtomic(path, line)
		}
		return writeFileAtomic(path, "grants: []\n")
	})
}

func BenchmarkPropagationPostgres(b *testing.B) {
	dsn := storetest.PostgresDSN(b)
	if _, err := Migrate(context.Background(), dsn); err != nil {
		b.Fatal(err)
	}
	st, err := NewPostgresStore(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Replace(context.Background(), loadExampleB(b)); err != nil {
		b.Fatal(err)
	}
	benchPropagation(b, st, writerToggle(st))
}

func BenchmarkPropagationEtcd(b *testing.B) {
	srv := storetest.StartEtcd(b)
	st, err := NewEtcdStore(context.Background(), EtcdConfig{Endpoints: srv.Endpoints()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Replace(context.Background(), loadExampleB(b)); err != nil {
		b.Fatal(err)
	}
	benchPropagation(b, st, writerToggle(st))
}

// largeData returns the example store plus 10,000 custom policies, 10,000
// users, 1,000 groups, 10,000 memberships, 100,000 grants (a tenth of them
// to users) and 1,000 servers.
func largeData(b *testing.B) *evaluator.Data {
	d := loadExampleB(b)
	for i := range 10000 {
		d.Policies = append(d.Policies, evaluator.Policy{
			Name: fmt.Sprintf("custom-%05d", i),
			Document: fmt.Appendf(nil, `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:cloudServers:get","ecs:*:list*"]},`+
				`{"Effect":"Deny","Action":["ecs:cloudServers:delete"],"Condition":{"StringEquals":{"g:ProjectName":["p-%d"]}}}]}`, i),
		})
		d.Users = append(d.Users, evaluator.User{ID: fmt.Sprintf("bu-%05d", i), Name: fmt.Sprintf("bench-%05d", i), DomainID: exampleDomain})
		d.Memberships = append(d.Memberships, evaluator.Membership{GroupID: fmt.Sprintf("bg-%04d", i%1000), UserID: fmt.Sprintf("bu-%05d", i)})
	}
	for i := range 1000 {
		d.Groups = append(d.Groups, evaluator.Group{ID: fmt.Sprintf("bg-%04d", i), Name: fmt.Sprintf("bench-%04d", i), DomainID: exampleDomain})
		d.Servers = append(d.Servers, evaluator.Server{ID: fmt.Sprintf("bs-%04d", i), ProjectID: exampleProject, EnterpriseProjectID: "0"})
	}
	for i := range 100000 {
		g := evaluator.Grant{Policy: fmt.Sprintf("custom-%05d", i%10000), Scope: evaluator.ScopeProject, ScopeID: exampleProject}
		if i%10 == 0 {
			g.UserID = fmt.Sprintf("bu-%05d", i/10)
		} else {
			g.GroupID = fmt.Sprintf("bg-%04d", i/100)
		}
		d.Grants = append(d.Grants, g)
	}
	SortData(d)
	return d
}

// benchFullReload measures Load and Compile of the large store while
// another goroutine keeps deciding on the engine in force, and reports
// the latency of those decisions.
func benchFullReload(b *testing.B, st Store) {
	t := &testing.T{}
	compile := engineCompiler(t)
	snap, err := st.Load(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	engine, err := compile(snap)
	if err != nil {
		b.Fatal(err)
	}
	var current atomic.Pointer[evaluator.Engine]
	current.Store(engine)

	var res catalog.Resolution
	if err := builtin.Resolve(&catalog.Request{Method: "GET", Target: "/v1/" + exampleProject + "/cloudservers/detail"}, &res); err != nil {
		b.Fatal(err)
	}
	req := &evaluator.Request{Principal: evaluator.Principal{UserID: "bu-00042", DomainID: exampleDomain,
		ProjectID: exampleProject, MFAAge: -1}, Resolution: &res, Time: time.Now()}

	var loadTotal, compileTotal, loadCPU time.Duration
	var checks []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d evaluator.Decision
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				current.Load().Decide(req, &d)
				checks = append(checks, time.Since(start))
				if d.Reason != evaluator.ReasonAllowed {
					panic("bench user denied: " + string(d.Reason))
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()

		start, cpuStart := time.Now(), processCPU()
		snap, err := st.Load(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		loaded := time.Now()
		loadCPU += processCPU() - cpuStart
		e, err := compile(snap)
		if err != nil {
			b.Fatal(err)
		}
		current.Store(e)
		compileTotal += time.Since(loaded)
		loadTotal += loaded.Sub(start)
		close(stop)
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(checks)
	b.ReportMetric(float64(loadTotal.Milliseconds())/float64(b.N), "load-ms")
	b.ReportMetric(float64(loadCPU.Milliseconds())/float64(b.N), "load-cpu-ms")
	b.ReportMetric(float64(compileTotal.Milliseconds())/float64(b.N), "compile-ms")
	b.ReportMetric(float64(len(checks)), "checks")
	b.ReportMetric(float64(percentile(checks, 50).Nanoseconds()), "check-p50-ns")
	b.ReportMetric(float64(percentile(checks, 99).Nanoseconds()), "check-p99-ns")
	b.ReportMetric(float64(checks[len(checks)-1].Microseconds()), "check-max-us")
}

func BenchmarkFullReloadFile(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "large")
	if err := WriteDir(dir, largeData(b)); err != nil {
		b.Fatal(err)
	}
	benchFullReload(b, NewFileStore(dir))
}

func BenchmarkFullReloadPostgres(b *testing.B) {
	dsn := storetest.PostgresDSN(b)
	if _, err := Migrate(context.Background(), dsn); err != nil {
		b.Fatal(err)
	}
	st, err := NewPostgresStore(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	if err := st.Replace(context.Background(), largeData(b)); err != nil {
		b.Fatal(err)
	}
	b.Logf("import of the large store took %s", time.Since(start))
	benchFullReload(b, st)
}

func BenchmarkFullReloadEtcd(b *testing.B) {
	srv := storetest.StartEtcd(b)
	st, err := NewEtcdStore(context.Background(), EtcdConfig{Endpoints: srv.Endpoints()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	if err := st.Replace(context.Background(), largeData(b)); err != nil {
		b.Fatal(err)
	}
	b.Logf("import of the large store took %s", time.Since(start))
	benchFullReload(b, st)
}

// processCPU returns the user and system CPU time of this process, which
// separates a load's own cost from time spent waiting for a busy machine.
// It does not include the time a database server spends.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadExampleB(b *testing.B) *evaluator.Data {
	snap, err := NewFileStore(exampleDir).Load(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return snap.Data
}

// BenchmarkValidateSortLarge measures the backend-independent part of a
// load of the large store: validation and sorting.
func BenchmarkValidateSortLarge(b *testing.B) {
	d := largeData(b)
	for i := 0; i < b.N; i++ {
		if err := ValidateData(DefaultPolicyValidator, d); err != nil {
			b.Fatal(err)
		}
		SortData(d)
	}
}

// BenchmarkFileLoadLarge measures reading the large store from files.
func BenchmarkFileLoadLarge(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "large")
	if err := WriteDir(dir, largeData(b)); err != nil {
		b.Fatal(err)
	}
	st := NewFileStore(dir)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := st.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileLoadLargeJSON measures reading the large store when its
// resource documents are JSON instead of YAML.
func BenchmarkFileLoadLargeJSON(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "large")
	writeDirJSON(b, dir, largeData(b))
	st := NewFileStore(dir)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := st.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFullReloadFileJSON is BenchmarkFullReloadFile with every
// resource document in JSON.
func BenchmarkFullReloadFileJSON(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "large")
	writeDirJSON(b, dir, largeData(b))
	benchFullReload(b, NewFileStore(dir))
}

// writeDirJSON exports data like WriteDir, then replaces each YAML
// resource document with a JSON document of the same lists.
func writeDirJSON(b *testing.B, dir string, data *evaluator.Data) {
	if err := WriteDir(dir, data); err != nil {
		b.Fatal(err)
	}

	var users []userDoc
	for _, u := range data.Users {
		users = append(users, userDoc(u))
	}

	var groups []groupDoc
	for _, g := range data.Groups {
		groups = append(groups, groupDoc(g))
	}

	var members []membershipDoc
	for _, m := range data.Memberships {
		members = append(members, membershipDoc{Group: m.GroupID, User: m.UserID})
	}

	var grants []grantDoc
	for _, g := range data.Grants {
		grants = append(grants, grantToDoc(g))
	}

	var servers []serverDoc
	for _, s := range data.Servers {
		servers = append(servers, serverDoc{ID: s.ID, ProjectID: s.ProjectID, EnterpriseProjectID: s.EnterpriseProjectID, Tags: s.Tags})
	}

	docs := map[string]map[string]any{
		"users":   {"users": users},
		"groups":  {"groups": groups, "memberships": members},
		"grants":  {"grants": grants},
		"servers": {"servers": servers},
	}

	for name, doc := range docs {
		src, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, name+".yaml")); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), src, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileLarge measures evaluator.Compile of the large store with
// the built-in catalog, the step after a load.
func BenchmarkCompileLarge(b *testing.B) {
	snap := &Snapshot{Data: largeData(b)}
	compile := engineCompiler(&testing.T{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := compile(snap); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateCompileLarge measures the backend-independent part of a
// full reload of the large store: validation, sorting and compiling.
func BenchmarkValidateCompileLarge(b *testing.B) {
	d := largeData(b)
	compile := engineCompiler(&testing.T{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ValidateData(DefaultPolicyValidator, d); err != nil {
			b.Fatal(err)
		}
		SortData(d)
		if _, err := compile(&Snapshot{Data: d}); err != nil {
			b.Fatal(err)
		}
	}
}
