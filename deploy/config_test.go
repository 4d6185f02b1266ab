package deploy

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/ecsauthz/ecsauthz/server"
)

const configurationDoc = "../docs/configuration.md"

// containerPaths maps the paths that the container configurations use to
// the repository files that the Dockerfile copies there.
var containerPaths = strings.NewReplacer(
	"/etc/ecsauthz/policies", "../examples/policies",
	"/etc/ecsauthz/jwks.json", "../examples/jwks/jwks.json",
)

func TestContainerConfigsValid(t *testing.T) {
	var configMap object
	unmarshalFile(t, "kubernetes/configmap.yaml", &configMap)
	configs := map[string]string{
		"compose/ecsauthz.yaml":                   string(readFile(t, "compose/ecsauthz.yaml")),
		"kubernetes/configmap.yaml ecsauthz.yaml": configMap.Data["ecsauthz.yaml"],
	}

	for name, text := range configs {
		t.Run(name, func(t *testing.T) {
			if text == "" {
				t.Fatal("configuration is empty")
			}
			path := filepath.Join(t.TempDir(), "ecsauthz.yaml")
			if err := os.WriteFile(path, []byte(containerPaths.Replace(text)), 0o600); err != nil {
				t.Fatal(err)
			}

			var conf server.Config
			if err := server.LoadConfigFile(path, &conf); err != nil {
				t.Fatal(err)
			}
			conf.SetDefaults()
			if err := conf.Validate(); err != nil {
				t.Errorf("invalid configuration:\n%v", err)
			}
			if conf.HTTP.Address != "0.0.0.0:9192" {
				t.Errorf("http.address = %q, want 0.0.0.0:9192 so probes and the published port reach it", conf.HTTP.Address)
			}
			if conf.GRPC.Address != "127.0.0.1:9191" {
				t.Errorf("grpc.address = %q, want 127.0.0.1:9191, the ecsauthz cluster of deploy/envoy/envoy.yaml", conf.GRPC.Address)
			}
		})
	}
}

// TestConfigurationDocListsEveryKey keeps docs/configuration.md in step with
// server.Config: every key of the default configuration and every flag of
// `ecsauthz serve` must appear in it.
func TestConfigurationDocListsEveryKey(t *testing.T) {
	doc := string(readFile(t, configurationDoc))

	for _, key := range defaultConfigKeys(t) {
		if !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("%s does not document the key %s", configurationDoc, key)
		}
	}

	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	server.NewConfigFlags(flags)
	flags.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" && !strings.Contains(doc, "`-"+f.Name+"`") {
			t.Errorf("%s does not document the flag -%s", configurationDoc, f.Name)
		}
	})
}

// defaultConfigKeys returns the dotted YAML keys of server.Config with its
// defaults set, such as "grpc.address". A map-valued setting such as
// identity.mtls.principals is one key.
func defaultConfigKeys(t *testing.T) []string {
	t.Helper()
	var conf server.Config
	conf.SetDefaults()
	data, err := yaml.Marshal(&conf)
	if err != nil {
		t.Fatalf("failed to marshal the default configuration: %v", err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(data, &tree); err != nil {
		t.Fatalf("failed to read back the default configuration: %v", err)
	}

	var keys []string
	var walk func(prefix string, node map[string]any)
	walk = func(prefix string, node map[string]any) {
		for name, value := range node {
			key := prefix + name
			if child, ok := value.(map[string]any); ok && len(child) > 0 {
				walk(key+".", child)
				continue
			}
			keys = append(keys, key)
		}
	}
	walk("", tree)
	slices.Sort(keys)

	if !slices.Contains(keys, "grpc.address") {
		t.Fatalf("default configuration keys %q lack grpc.address", keys)
	}
	return keys
}
