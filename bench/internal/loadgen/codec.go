package loadgen

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// encodedRequest is a CheckRequest already in protobuf wire format.
type encodedRequest struct {
	wire []byte
}

// passthroughCodec sends pre-encoded requests as they are and decodes
// responses with the standard protobuf codec. It keeps request marshalling
// off the load generator's CPU. grpc-go wraps the returned slice without
// freeing it, so one slice may be sent by many calls.
type passthroughCodec struct{}

func (passthroughCodec) Marshal(v any) ([]byte, error) {
	request, ok := v.(*encodedRequest)
	if !ok {
		return nil, fmt.Errorf("passthrough codec cannot marshal %T", v)
	}
	return request.wire, nil
}

func (passthroughCodec) Unmarshal(data []byte, v any) error {
	message, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("passthrough codec cannot unmarshal into %T", v)
	}
	return proto.Unmarshal(data, message)
}

// Name returns "proto" so that the content subtype matches what servers
// expect from Envoy.
func (passthroughCodec) Name() string { return "proto" }
