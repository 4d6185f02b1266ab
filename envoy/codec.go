package envoy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Codec is a gRPC codec that decodes every CheckRequest, even one that the
// standard proto codec rejects. Envoy sends header values and the body as
// proto3 strings, and protobuf-go rejects a string field that holds invalid
// UTF-8, so grpc-go would reject such a request with an error status before
// the handler runs. An error counts as a failure in Envoy, and
// failure_mode_allow: true would then let the request through.
//
// When the standard decoding of a CheckRequest fails, Codec replaces each
// invalid UTF-8 sequence in a string field with U+FFFD, keeps every other
// field, and marks the message so that [ParseCheckRequest] rejects it and
// the handler responds with a deny. Bytes that are not a protobuf message at
// all yield an empty, marked CheckRequest. Every other message type is
// handled by the standard proto codec.
//
// Install it with grpc.ForceServerCodecV2(envoy.Codec{}).
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// maxRepairDepth bounds the recursion of the UTF-8 repair. Deeper messages
// (only possible inside metadata Structs) are treated as malformed.
const maxRepairDepth = 64

// decodeFailureField is the unknown field number that marks a CheckRequest
// decoded only after repair. It is the largest valid field number, which no
// Envoy message uses. A client that sends it only gets its own request
// denied.
const decodeFailureField = protowire.MaxValidNumber

// Name returns "proto", so the codec serves the standard content subtype.
func (Codec) Name() string { return grpcproto.Name }

// Marshal encodes v with the standard proto codec, except that it sends the
// bytes of a [RawCheckResponse] as they are.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if raw, ok := v.(*RawCheckResponse); ok {
		return mem.BufferSlice{mem.SliceBuffer(raw.Wire)}, nil
	}
	return encoding.GetCodecV2(grpcproto.Name).Marshal(v)
}

// Unmarshal decodes data into v. For a CheckRequest it never returns an
// error. See [Codec] for how it handles undecodable input. A
// [RawCheckRequest] receives a copy of the bytes.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if raw, ok := v.(*RawCheckRequest); ok {
		raw.Wire = data.Materialize()
		return nil
	}
	req, ok := v.(*authv3.CheckRequest)
	if !ok {
		return encoding.GetCodecV2(grpcproto.Name).Unmarshal(data, v)
	}

	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	UnmarshalCheckRequest(buf.ReadOnlyData(), req)
	return nil
}

// UnmarshalCheckRequest decodes wire into req the way [Codec] does. It
// returns no error: a request it cannot decode as is gets marked, and
// [DecodeFailure] then reports the mark.
func UnmarshalCheckRequest(wire []byte, req *authv3.CheckRequest) {
	err := proto.Unmarshal(wire, req)
	if err == nil {
		return
	}

	proto.Reset(req)
	repaired, field, repairErr := repairUTF8(wire, req.ProtoReflect().Descriptor(), "", 0)
	reason := "malformed protobuf: " + err.Error()
	if repairErr == nil && field != "" {
		if err := proto.Unmarshal(repaired, req); err == nil {
			reason = "invalid UTF-8 in " + field
		} else {
			proto.Reset(req)
		}
	}
	markDecodeFailure(req, reason)
}

// DecodeFailure returns the reason recorded by [Codec] when req could only be
// decoded after repair, and false for a request decoded as sent.
func DecodeFailure(req *authv3.CheckRequest) (reason string, ok bool) {
	if req == nil {
		return "", false
	}
	unknown := req.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return "", false
		}
		unknown = unknown[n:]
		if num == decodeFailureField && typ == protowire.BytesType {
			value, _ := protowire.ConsumeBytes(unknown)
			return string(value), true
		}
		n = protowire.ConsumeFieldValue(num, typ, unknown)
		if n < 0 {
			return "", false
		}
		unknown = unknown[n:]
	}
	return "", false
}

func markDecodeFailure(req *authv3.CheckRequest, reason string) {
	message := req.ProtoReflect()
	unknown := message.GetUnknown()
	unknown = protowire.AppendTag(unknown, decodeFailureField, protowire.BytesType)
	unknown = protowire.AppendString(unknown, reason)
	message.SetUnknown(unknown)
}

var errRepairTooDeep = errors.New("message nesting exceeds the repair depth")

// repairUTF8 copies the wire-format message b of type desc, replacing invalid
// UTF-8 in string fields with U+FFFD. It returns the path of the first string
// field it repaired, "" when none needed repair. Fields unknown to desc and
// non-string scalars are copied unchanged.
func repairUTF8(b []byte, desc protoreflect.MessageDescriptor, path string, depth int) ([]byte, string, error) {
	if depth > maxRepairDepth {
		return nil, "", errRepairTooDeep
	}
	out := make([]byte, 0, len(b))
	first := ""
	for len(b) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return nil, "", protowire.ParseError(tagLen)
		}
		valueLen := protowire.ConsumeFieldValue(num, typ, b[tagLen:])
		if valueLen < 0 {
			return nil, "", protowire.ParseError(valueLen)
		}
		field := desc.Fields().ByNumber(num)
		if typ != protowire.BytesType || field == nil {
			out = append(out, b[:tagLen+valueLen]...)
			b = b[tagLen+valueLen:]
			continue
		}

		payload, _ := protowire.ConsumeBytes(b[tagLen:])
		b = b[tagLen+valueLen:]
		fieldPath := joinPath(path, string(field.Name()))
		repaired, repairedField, err := repairField(payload, field, fieldPath, depth)
		if err != nil {
			return nil, "", err
		}
		if first == "" {
			first = repairedField
		}
		out = protowire.AppendTag(out, num, typ)
		out = protowire.AppendBytes(out, repaired)
	}
	return out, first, nil
}

func repairField(payload []byte, field protoreflect.FieldDescriptor, path string, depth int) ([]byte, string, error) {
	switch field.Kind() {
	case protoreflect.StringKind:
		if utf8.Valid(payload) {
			return payload, "", nil
		}
		return []byte(strings.ToValidUTF8(string(payload), "\uFFFD")), path, nil
	case protoreflect.MessageKind:
		return repairUTF8(payload, field.Message(), path, depth+1)
	default:
		return payload, "", nil
	}
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return fmt.Sprintf("%s.%s", parent, name)
}

// RawCheckRequest is a CheckRequest left in wire form, for
// [ParseCheckRequestWire]. Only [Codec] can decode into it: it copies the
// bytes, because grpc-go reuses the receive buffer after decoding.
type RawCheckRequest struct {
	Wire []byte
}

// RawAuthorizationServer is an Envoy Authorization service that parses the
// CheckRequest itself, with [ParseCheckRequestWire].
type RawAuthorizationServer interface {
	Check(ctx context.Context, req *RawCheckRequest) (*authv3.CheckResponse, error)
}

// EncodingAuthorizationServer is a [RawAuthorizationServer] that may also
// return its response in wire form. When a server implements it, the
// service calls CheckEncoded instead of Check. The response must be a
// *authv3.CheckResponse or a [RawCheckResponse], as from
// [Responder.EncodeResponse].
type EncodingAuthorizationServer interface {
	RawAuthorizationServer
	CheckEncoded(ctx context.Context, req *RawCheckRequest) (any, error)
}

// RegisterRawAuthorizationServer registers srv as envoy.service.auth.v3.
// Authorization on s. The service is the same on the wire as the generated
// one, so Envoy and gRPC reflection see no difference. The server must use
// [Codec], because the standard codec cannot decode into a RawCheckRequest.
func RegisterRawAuthorizationServer(s grpc.ServiceRegistrar, srv RawAuthorizationServer) {
	s.RegisterService(&rawAuthorizationServiceDesc, srv)
}

var rawAuthorizationServiceDesc = grpc.ServiceDesc{
	ServiceName: authv3.Authorization_ServiceDesc.ServiceName,
	HandlerType: (*RawAuthorizationServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Check",
		Handler:    rawCheckHandler,
	}},
	Streams:  []grpc.StreamDesc{},
	Metadata: authv3.Authorization_ServiceDesc.Metadata,
}

func rawCheckHandler(srv any, ctx context.Context, decode func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	req := &RawCheckRequest{}
	if err := decode(req); err != nil {
		return nil, err
	}
	check := rawCheck(srv.(RawAuthorizationServer))
	if interceptor == nil {
		return check(ctx, req)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
	handler := func(ctx context.Context, req any) (any, error) {
		return check(ctx, req.(*RawCheckRequest))
	}
	return interceptor(ctx, req, info, handler)
}

// rawCheck returns the Check method of server, or CheckEncoded when server
// implements [EncodingAuthorizationServer].
func rawCheck(server RawAuthorizationServer) func(context.Context, *RawCheckRequest) (any, error) {
	if encoding, ok := server.(EncodingAuthorizationServer); ok {
		return encoding.CheckEncoded
	}
	return func(ctx context.Context, req *RawCheckRequest) (any, error) {
		return server.Check(ctx, req)
	}
}
