package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The ConfigMaps that the kubectl commands in deployment.yaml create from
// files in this repository, so they have no manifest.
var configMapsCreatedByKubectl = []string{"ecsauthz-envoy", "ecsauthz-jwks"}

// object is the part of a Kubernetes object that these tests read.
// The Service's spec.selector is a plain label map, unlike the Deployment's
// spec.selector.matchLabels, so loadServiceSelector reads it separately.
type object struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   objectMeta        `json:"metadata"`
	Data       map[string]string `json:"data"`
	Spec       struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Template struct {
			Metadata objectMeta `json:"metadata"`
			Spec     podSpec    `json:"spec"`
		} `json:"template"`
		// Ports is the Service's port list.
		Ports []servicePort `json:"ports"`
	} `json:"spec"`
}

type objectMeta struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type podSpec struct {
	Containers []container `json:"containers"`
	Volumes    []struct {
		Name      string `json:"name"`
		ConfigMap *struct {
			Name string `json:"name"`
		} `json:"configMap"`
	} `json:"volumes"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	StartupProbe   *probe `json:"startupProbe"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
	VolumeMounts   []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port string `json:"port"`
	} `json:"httpGet"`
	TCPSocket *struct {
		Port string `json:"port"`
	} `json:"tcpSocket"`
}

type servicePort struct {
	Name       string `json:"name"`
	Port       int    `json:"port"`
	TargetPort string `json:"targetPort"`
}

// composeFile is the part of a compose file that these tests read.
type composeFile struct {
	Services map[string]struct {
		Image       string   `json:"image"`
		NetworkMode string   `json:"network_mode"`
		Volumes     []string `json:"volumes"`
		Ports       []string `json:"ports"`
		Build       *struct {
			Context    string `json:"context"`
			Dockerfile string `json:"dockerfile"`
		} `json:"build"`
	} `json:"services"`
}

func TestKubernetesManifestsParse(t *testing.T) {
	objects := loadKubernetes(t)

	var kinds []string
	for _, obj := range objects {
		kinds = append(kinds, obj.Kind)
		if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
			t.Errorf("object %+v lacks apiVersion, kind or metadata.name", obj.Metadata)
		}
	}
	slices.Sort(kinds)
	if want := []string{"ConfigMap", "Deployment", "Service"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds = %q, want %q", kinds, want)
	}
}

func TestDeploymentProbes(t *testing.T) {
	ecsauthz := findContainer(t, findKind(t, loadKubernetes(t), "Deployment"), "ecsauthz")

	tests := []struct {
		name     string
		probe    *probe
		wantPath string
	}{
		{"startup", ecsauthz.StartupProbe, "/healthz"},
		{"liveness", ecsauthz.LivenessProbe, "/healthz"},
		{"readiness", ecsauthz.ReadinessProbe, "/readyz"},
	}
	for _, tt := range tests {
		if tt.probe == nil || tt.probe.HTTPGet == nil {
			t.Errorf("%s probe of ecsauthz is not an httpGet probe", tt.name)
			continue
		}
		if tt.probe.HTTPGet.Path != tt.wantPath {
			t.Errorf("%s probe path = %q, want %q", tt.name, tt.probe.HTTPGet.Path, tt.wantPath)
		}
		if port := containerPort(ecsauthz, tt.probe.HTTPGet.Port); port != 9192 {
			t.Errorf("%s probe port %q resolves to %d, want the HTTP listener 9192", tt.name, tt.probe.HTTPGet.Port, port)
		}
	}
}

func TestServiceSelectsDeployment(t *testing.T) {
	objects := loadKubernetes(t)
	deployment := findKind(t, objects, "Deployment")
	service := loadServiceSelector(t)

	if len(service) == 0 {
		t.Fatal("Service has no selector")
	}
	for key, value := range service {
		if got := deployment.Spec.Template.Metadata.Labels[key]; got != value {
			t.Errorf("Service selects %s=%s, but the pod template has %s=%q", key, value, key, got)
		}
	}
	for key, value := range deployment.Spec.Selector.MatchLabels {
		if got := deployment.Spec.Template.Metadata.Labels[key]; got != value {
			t.Errorf("Deployment selector %s=%s does not match the pod template label %q", key, value, got)
		}
	}

	ports := findKind(t, objects, "Service").Spec.Ports
	for _, port := range ports {
		if !slices.ContainsFunc(deployment.Spec.Template.Spec.Containers, func(c container) bool {
			return containerPort(c, port.TargetPort) != 0
		}) {
			t.Errorf("Service port %s targets %q, which no container declares", port.Name, port.TargetPort)
		}
	}
}

func TestDeploymentVolumes(t *testing.T) {
	objects := loadKubernetes(t)
	pod := findKind(t, objects, "Deployment").Spec.Template.Spec

	defined := slices.Clone(configMapsCreatedByKubectl)
	for _, obj := range objects {
		if obj.Kind == "ConfigMap" {
			defined = append(defined, obj.Metadata.Name)
		}
	}

	var volumes []string
	for _, volume := range pod.Volumes {
		volumes = append(volumes, volume.Name)
		if volume.ConfigMap != nil && !slices.Contains(defined, volume.ConfigMap.Name) {
			t.Errorf("volume %s uses ConfigMap %q, which is neither in configmap.yaml nor created by the kubectl commands in deployment.yaml", volume.Name, volume.ConfigMap.Name)
		}
	}
	for _, c := range pod.Containers {
		for _, mount := range c.VolumeMounts {
			if !slices.Contains(volumes, mount.Name) {
				t.Errorf("container %s mounts volume %q, which the pod does not define", c.Name, mount.Name)
			}
		}
	}
}

// TestKubectlCommandsFilesExist checks the files named in the kubectl
// create configmap commands of deployment.yaml.
func TestKubectlCommandsFilesExist(t *testing.T) {
	data := readFile(t, "kubernetes/deployment.yaml")

	matches := regexp.MustCompile(`--from-file=(?:[\w.-]+=)?(\S+)`).FindAllStringSubmatch(string(data), -1)
	if len(matches) == 0 {
		t.Fatal("deployment.yaml names no --from-file")
	}
	for _, match := range matches {
		if _, err := os.Stat(filepath.Join("..", match[1])); err != nil {
			t.Errorf("deployment.yaml creates a ConfigMap from %s: %v", match[1], err)
		}
	}
}

func TestComposeServices(t *testing.T) {
	var compose composeFile
	unmarshalFile(t, "compose/compose.yaml", &compose)

	var names []string
	for name := range compose.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"ecs-api", "ecsauthz", "envoy"}; !slices.Equal(names, want) {
		t.Fatalf("services = %q, want %q", names, want)
	}

	// deploy/envoy/envoy.yaml reaches both on 127.0.0.1.
	for _, name := range []string{"ecsauthz", "ecs-api"} {
		if got := compose.Services[name].NetworkMode; got != "service:envoy" {
			t.Errorf("service %s network_mode = %q, want service:envoy", name, got)
		}
	}

	build := compose.Services["ecsauthz"].Build
	if build == nil {
		t.Fatal("service ecsauthz has no build section")
	}
	if _, err := os.Stat(filepath.Join("compose", build.Context, build.Dockerfile)); err != nil {
		t.Errorf("service ecsauthz builds from a missing Dockerfile: %v", err)
	}
}

func TestComposeVolumesExist(t *testing.T) {
	var compose composeFile
	unmarshalFile(t, "compose/compose.yaml", &compose)

	for name, service := range compose.Services {
		for _, volume := range service.Volumes {
			source, _, _ := strings.Cut(volume, ":")
			if _, err := os.Stat(filepath.Join("compose", source)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, source, err)
			}
		}
	}
}

// TestDockerfileCopySourcesExist checks the COPY lines that read from the
// build context, which is the repository root.
func TestDockerfileCopySourcesExist(t *testing.T) {
	data := readFile(t, "Dockerfile")

	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "COPY" || strings.HasPrefix(fields[1], "--from=") {
			continue
		}
		for _, source := range fields[1 : len(fields)-1] {
			if _, err := os.Stat(filepath.Join("..", source)); err != nil {
				t.Errorf("Dockerfile copies %s: %v", source, err)
			}
		}
	}
}

func loadKubernetes(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	var objects []object
	for _, file := range files {
		var obj object
		unmarshalFile(t, file, &obj)
		objects = append(objects, obj)
	}
	return objects
}

// loadServiceSelector reads spec.selector of the Service, which is a plain
// label map, unlike the Deployment's spec.selector.matchLabels.
func loadServiceSelector(t *testing.T) map[string]string {
	t.Helper()
	var service struct {
		Spec struct {
			Selector map[string]string `json:"selector"`
		} `json:"spec"`
	}
	unmarshalFile(t, "kubernetes/service.yaml", &service)
	return service.Spec.Selector
}

func findKind(t *testing.T, objects []object, kind string) object {
	t.Helper()
	i := slices.IndexFunc(objects, func(o object) bool { return o.Kind == kind })
	if i < 0 {
		t.Fatalf("no %s in kubernetes/", kind)
	}
	return objects[i]
}

func findContainer(t *testing.T, deployment object, name string) container {
	t.Helper()
	containers := deployment.Spec.Template.Spec.Containers
	i := slices.IndexFunc(containers, func(c container) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("Deployment has no container %q", name)
	}
	return containers[i]
}

// containerPort returns the number of the named port of c, or 0 when c
// declares no port of that name.
func containerPort(c container, name string) int {
	for _, port := range c.Ports {
		if port.Name == name {
			return port.ContainerPort
		}
	}
	return 0
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("failed to read %s: %v", path, err)
	}
	return data
}

func unmarshalFile(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("invalid YAML in %s: %v", path, err)
	}
}

// TestEnvoyImageMatchesAPIVersion checks that the Envoy image in the
// manifests is the release whose protos the bootstrap test validates
// against: go-control-plane's envoy module vX.Y.Z carries Envoy X.Y.Z's API.
func TestEnvoyImageMatchesAPIVersion(t *testing.T) {
	match := regexp.MustCompile(`github\.com/envoyproxy/go-control-plane/envoy v(\d+\.\d+)\.`).FindSubmatch(readFile(t, "../go.mod"))
	if match == nil {
		t.Fatal("go.mod does not require github.com/envoyproxy/go-control-plane/envoy")
	}
	want := "envoyproxy/envoy:v" + string(match[1]) + "-latest"

	for _, file := range []string{"kubernetes/deployment.yaml", "compose/compose.yaml"} {
		images := regexp.MustCompile(`envoyproxy/envoy:\S+`).FindAllString(string(readFile(t, file)), -1)
		if len(images) == 0 {
			t.Errorf("%s uses no envoyproxy/envoy image", file)
		}
		for _, image := range images {
			if image != want {
				t.Errorf("%s uses %s, want %s to match the API version in go.mod", file, image, want)
			}
		}
	}
}
