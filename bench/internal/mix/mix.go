// Package mix loads the request mix of a benchmark: Envoy CheckRequests in
// protojson form, one per file.
package mix

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Request is one CheckRequest of the mix.
type Request struct {
	// Name is the file path relative to the directory the mix was loaded from.
	Name string
	// Message is the parsed request.
	Message *authv3.CheckRequest
	// Wire is Message in protobuf wire format, encoded once so that the load
	// generator does not spend its CPU marshalling.
	Wire []byte
}

// Load reads every *.json file under dir, recursively, in lexical order.
// A file that is not a protojson CheckRequest is an error unless
// skipInvalid is set, in which case it is left out and its name returned in
// skipped.
func Load(dir string, skipInvalid bool) (requests []Request, skipped []string, err error) {
	var paths []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, walkErr error) error {
		if walkErr != nil {
			return walkErr
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".json") {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("failed to list request files in %s: %w", dir, err)
	}
	sort.Strings(paths)

	for _, path := range paths {
		name, _ := filepath.Rel(dir, path)
		request, err := loadFile(path, name)
		if err != nil {
			if skipInvalid {
				skipped = append(skipped, name)
				continue
			}
			return nil, nil, err
		}
		requests = append(requests, request)
	}
	if len(requests) == 0 {
		return nil, skipped, fmt.Errorf("no CheckRequest files (*.json) found in %s", dir)
	}
	return requests, skipped, nil
}

func loadFile(path, name string) (Request, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Request{}, fmt.Errorf("failed to read request file: %w", err)
	}
	message := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(data, message); err != nil {
		return Request{}, fmt.Errorf("invalid CheckRequest in %s: %w", path, err)
	}
	if message.GetAttributes().GetRequest().GetHttp() == nil {
		return Request{}, fmt.Errorf("invalid CheckRequest in %s: attributes.request.http is missing", path)
	}
	wire, err := proto.Marshal(message)
	if err != nil {
		return Request{}, fmt.Errorf("failed to encode CheckRequest from %s: %w", path, err)
	}
	return Request{Name: name, Message: message, Wire: wire}, nil
}
