package envoy

import (
	"fmt"
	"net/netip"
	"unicode/utf8"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// ParseCheckRequestWire fills out from the wire form of a CheckRequest
// without decoding the whole message. It reads only the fields that
// [ParseCheckRequest] reads, and its header values and body alias wire, so
// wire must not change while out is in use. Repeated calls with one out
// reuse its header storage.
//
// The result is the same as decoding wire with [UnmarshalCheckRequest] and
// calling ParseCheckRequest. Fields follow protobuf's rules for repeated
// fields, merged messages and oneofs. Invalid UTF-8 in any string field and
// bytes that are not a CheckRequest give an error wrapping
// [ErrInvalidRequest]. A fuzz test checks this equivalence.
//
// Decoding the whole message builds a Go map of every header, so this
// function costs a fraction of the allocations of proto.Unmarshal.
func ParseCheckRequestWire(wire []byte, out *Request) error {
	pairs, list := out.Headers.pairs[:0], out.Headers.rawList[:0]
	*out = Request{}

	if field, err := firstInvalidUTF8(wire, checkRequestDescriptor, "", 0); err != nil {
		return fmt.Errorf("%w: malformed protobuf: %v", ErrInvalidRequest, err)
	} else if field != "" {
		return fmt.Errorf("%w: invalid UTF-8 in %s", ErrInvalidRequest, field)
	}

	var state wireState
	state.pairs, state.list = pairs, list
	failure, marked := "", false
	forEachField(wire, func(num protowire.Number, typ protowire.Type, value []byte) {
		switch {
		case typ != protowire.BytesType:
		case num == fieldNumbers.checkAttributes:
			state.attributes(value)
		case num == decodeFailureField && !marked:
			// A client-sent decode-failure mark is rejected as in
			// ParseCheckRequest.
			failure, marked = string(value), true
		}
	})
	if marked {
		out.Headers.pairs, out.Headers.rawList = state.pairs, state.list
		return fmt.Errorf("%w: %s", ErrInvalidRequest, failure)
	}
	return state.finish(out)
}

// wireState collects the fields of one CheckRequest. Later occurrences
// overwrite earlier ones, as protobuf merges repeated singular fields.
type wireState struct {
	hasHTTP          bool
	method, path, id string
	body             []byte
	textBody         string
	pairs, list      []headerPair
	// pairIndex maps header names to their index in pairs once there are
	// too many pairs to search linearly.
	pairIndex       map[string]int
	sourceAddress   string
	sourcePrincipal string
	extensions      map[string]string
	jwtAuthn        []byte
	hasJWTAuthn     bool
}

func (s *wireState) attributes(b []byte) {
	forEachField(b, func(num protowire.Number, typ protowire.Type, value []byte) {
		if typ != protowire.BytesType {
			return
		}
		switch num {
		case fieldNumbers.attrSource:
			s.peer(value)
		case fieldNumbers.attrRequest:
			forEachField(value, func(num protowire.Number, typ protowire.Type, value []byte) {
				if num == fieldNumbers.requestHTTP && typ == protowire.BytesType {
					s.hasHTTP = true
					s.http(value)
				}
			})
		case fieldNumbers.attrContextExtensions:
			key, entry := mapEntry(value)
			if s.extensions == nil {
				s.extensions = make(map[string]string)
			}
			s.extensions[key] = entry
		case fieldNumbers.attrMetadataContext:
			s.metadata(value)
		}
	})
}

func (s *wireState) peer(b []byte) {
	forEachField(b, func(num protowire.Number, typ protowire.Type, value []byte) {
		if typ != protowire.BytesType {
			return
		}
		switch num {
		case fieldNumbers.peerPrincipal:
			s.sourcePrincipal = aliasString(value)
		case fieldNumbers.peerAddress:
			s.address(value)
		}
	})
}

// address reads Address.socket_address.address. The other members of the
// Address oneof replace socket_address, so they clear the value.
func (s *wireState) address(b []byte) {
	forEachField(b, func(num protowire.Number, typ protowire.Type, value []byte) {
		if !fieldNumbers.addressOneof[num] || typ != protowire.BytesType {
			return
		}
		if num != fieldNumbers.addressSocket {
			s.sourceAddress = ""
			return
		}
		forEachField(value, func(num protowire.Number, typ protowire.Type, value []byte) {
			if num == fieldNumbers.socketAddress && typ == protowire.BytesType {
				s.sourceAddress = aliasString(value)
			}
		})
	})
}

func (s *wireState) http(b []byte) {
	forEachField(b, func(num protowire.Number, typ protowire.Type, value []byte) {
		if typ != protowire.BytesType {
			return
		}
		switch num {
		case fieldNumbers.httpID:
			s.id = aliasString(value)
		case fieldNumbers.httpMethod:
			s.method = aliasString(value)
		case fieldNumbers.httpPath:
			s.path = aliasString(value)
		case fieldNumbers.httpBody:
			s.textBody = aliasString(value)
		case fieldNumbers.httpRawBody:
			s.body = value
		case fieldNumbers.httpHeaders:
			key, entry := mapEntry(value)
			s.setPair(key, entry)
		case fieldNumbers.httpHeaderMap:
			forEachField(value, func(num protowire.Number, typ protowire.Type, value []byte) {
				if num == fieldNumbers.headerMapHeaders && typ == protowire.BytesType {
					s.list = append(s.list, headerValuePair(value))
				}
			})
		}
	})
}

// metadata keeps the last jwt_authn entry of filter_metadata, because a
// later map entry replaces an earlier one with the same key.
func (s *wireState) metadata(b []byte) {
	forEachField(b, func(num protowire.Number, typ protowire.Type, value []byte) {
		if num != fieldNumbers.metadataFilter || typ != protowire.BytesType {
			return
		}
		var key string
		var entry []byte
		forEachField(value, func(num protowire.Number, typ protowire.Type, value []byte) {
			switch {
			case num == 1 && typ == protowire.BytesType:
				key = aliasString(value)
			case num == 2 && typ == protowire.BytesType:
				entry = value
			}
		})
		if key == JWTAuthnNamespace {
			s.jwtAuthn, s.hasJWTAuthn = entry, true
		}
	})
}

// finish applies the checks of ParseCheckRequest to the collected fields.
func (s *wireState) finish(out *Request) error {
	out.Headers.pairs, out.Headers.rawList = s.pairs, s.list
	out.Headers.fromWire = true
	if !s.hasHTTP {
		return fmt.Errorf("%w: attributes.request.http is missing", ErrInvalidRequest)
	}
	out.Method = s.method
	if !isToken(out.Method) {
		return fmt.Errorf("%w: attributes.request.http.method %q is not an HTTP method", ErrInvalidRequest, out.Method)
	}
	out.Target = s.path
	if out.Target == "" {
		return fmt.Errorf("%w: attributes.request.http.path is missing", ErrInvalidRequest)
	}

	switch {
	case len(s.body) > 0 && s.textBody != "":
		return fmt.Errorf("%w: both attributes.request.http.body and raw_body are set", ErrInvalidRequest)
	case len(s.body) > 0:
		out.Body = s.body
	case s.textBody != "":
		out.Body = unsafe.Slice(unsafe.StringData(s.textBody), len(s.textBody))
	}
	partial, _ := out.Headers.Header(PartialBodyHeader)
	out.BodyTruncated = partial == "true"

	out.SourcePrincipal = s.sourcePrincipal
	if s.sourceAddress != "" {
		ip, err := netip.ParseAddr(s.sourceAddress)
		if err != nil {
			return fmt.Errorf("%w: attributes.source.address %q is not an IP address", ErrInvalidRequest, s.sourceAddress)
		}
		out.SourceIP = ip
	}

	if s.hasJWTAuthn {
		payload := &structpb.Struct{}
		if err := proto.Unmarshal(s.jwtAuthn, payload); err != nil {
			return fmt.Errorf("%w: jwt_authn metadata: %v", ErrInvalidRequest, err)
		}
		out.JWTAuthn = payload
	}
	out.ContextExtensions = s.extensions
	out.RequestID, _ = out.Headers.Header(RequestIDHeader)
	if out.RequestID == "" {
		out.RequestID = s.id
	}
	return nil
}

// headerPair is one header entry that aliases the wire bytes.
type headerPair struct {
	name, value string
}

// maxLinearPairs is the number of headers up to which setPair searches
// linearly. Envoy sends a few dozen, and a direct caller that sends many
// more must not make the duplicate search quadratic.
const maxLinearPairs = 64

// setPair adds a headers map entry. A later entry with the same key
// replaces an earlier one, as in a protobuf map.
func (s *wireState) setPair(name, value string) {
	if s.pairIndex == nil && len(s.pairs) >= maxLinearPairs {
		s.pairIndex = make(map[string]int, 2*len(s.pairs))
		for i, pair := range s.pairs {
			s.pairIndex[pair.name] = i
		}
	}
	if s.pairIndex != nil {
		if i, ok := s.pairIndex[name]; ok {
			s.pairs[i].value = value
			return
		}
		s.pairIndex[name] = len(s.pairs)
		s.pairs = append(s.pairs, headerPair{name, value})
		return
	}

	for i := range s.pairs {
		if s.pairs[i].name == name {
			s.pairs[i].value = value
			return
		}
	}
	s.pairs = append(s.pairs, headerPair{name, value})
}

// headerValuePair reads a HeaderValue: raw_value when set, else value.
func headerValuePair(b []byte) headerPair {
	var pair headerPair
	var raw []byte
	forEachField(b, func(num protowire.Number, typ protowire.Type, value []byte) {
		if typ != protowire.BytesType {
			return
		}
		switch num {
		case fieldNumbers.headerKey:
			pair.name = aliasString(value)
		case fieldNumbers.headerValue:
			pair.value = aliasString(value)
		case fieldNumbers.headerRawValue:
			raw = value
		}
	})
	if len(raw) > 0 {
		pair.value = aliasString(raw)
	}
	return pair
}

// mapEntry reads the key and value of a map<string, string> entry.
func mapEntry(b []byte) (key, value string) {
	forEachField(b, func(num protowire.Number, typ protowire.Type, field []byte) {
		switch {
		case num == 1 && typ == protowire.BytesType:
			key = aliasString(field)
		case num == 2 && typ == protowire.BytesType:
			value = aliasString(field)
		}
	})
	return key, value
}

// forEachField calls visit for every field of the wire-format message b,
// with the payload of length-delimited fields and the raw value of the
// others. b must be well-formed, which firstInvalidUTF8 has checked.
func forEachField(b []byte, visit func(num protowire.Number, typ protowire.Type, value []byte)) {
	for len(b) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return
		}
		b = b[tagLen:]
		valueLen := protowire.ConsumeFieldValue(num, typ, b)
		if valueLen < 0 {
			return
		}
		value := b[:valueLen]
		if typ == protowire.BytesType {
			value, _ = protowire.ConsumeBytes(value)
		}
		visit(num, typ, value)
		b = b[valueLen:]
	}
}

func aliasString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// maxWireDepth is protobuf-go's default recursion limit, so that
// firstInvalidUTF8 accepts exactly the nesting proto.Unmarshal accepts.
const maxWireDepth = 10000

// firstInvalidUTF8 walks the wire-format message b of type desc and returns
// the path of the first string field that holds invalid UTF-8, "" when there
// is none. It returns an error for bytes that are not well-formed. Unlike
// repairUTF8 it allocates nothing unless it finds a problem.
func firstInvalidUTF8(b []byte, desc protoreflect.MessageDescriptor, path string, depth int) (string, error) {
	if depth > maxWireDepth {
		return "", errRepairTooDeep
	}
	for len(b) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return "", protowire.ParseError(tagLen)
		}
		valueLen := protowire.ConsumeFieldValue(num, typ, b[tagLen:])
		if valueLen < 0 {
			return "", protowire.ParseError(valueLen)
		}
		field := desc.Fields().ByNumber(num)
		value := b[tagLen : tagLen+valueLen]
		b = b[tagLen+valueLen:]
		if field == nil || typ != protowire.BytesType {
			continue
		}

		payload, _ := protowire.ConsumeBytes(value)
		switch field.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(payload) {
				return joinPath(path, string(field.Name())), nil
			}
		case protoreflect.MessageKind:
			// The path is only built when a problem is found below.
			invalid, err := firstInvalidUTF8(payload, field.Message(), "", depth+1)
			if err != nil || invalid != "" {
				return joinPath(joinPath(path, string(field.Name())), invalid), err
			}
		}
	}
	return "", nil
}

var checkRequestDescriptor = (&authv3.CheckRequest{}).ProtoReflect().Descriptor()

// fieldNumbers are the field numbers ParseCheckRequestWire reads, taken from
// the generated descriptors so they cannot drift from the protos.
var fieldNumbers = func() (numbers struct {
	checkAttributes                                                     protowire.Number
	attrSource, attrRequest, attrContextExtensions, attrMetadataContext protowire.Number
	peerAddress, peerPrincipal                                          protowire.Number
	addressSocket                                                       protowire.Number
	addressOneof                                                        map[protowire.Number]bool
	socketAddress                                                       protowire.Number
	requestHTTP                                                         protowire.Number
	httpID, httpMethod, httpHeaders, httpPath, httpBody, httpRawBody    protowire.Number
	httpHeaderMap, headerMapHeaders                                     protowire.Number
	headerKey, headerValue, headerRawValue                              protowire.Number
	metadataFilter                                                      protowire.Number
}) {
	number := func(m proto.Message, name string) protowire.Number {
		field := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
		if field == nil {
			panic("envoy: generated descriptor has no field " + name)
		}
		return field.Number()
	}
	numbers.checkAttributes = number(&authv3.CheckRequest{}, "attributes")
	attributes := &authv3.AttributeContext{}
	numbers.attrSource = number(attributes, "source")
	numbers.attrRequest = number(attributes, "request")
	numbers.attrContextExtensions = number(attributes, "context_extensions")
	numbers.attrMetadataContext = number(attributes, "metadata_context")
	peer := &authv3.AttributeContext_Peer{}
	numbers.peerAddress = number(peer, "address")
	numbers.peerPrincipal = number(peer, "principal")
	address := &corev3.Address{}
	numbers.addressSocket = number(address, "socket_address")
	numbers.addressOneof = map[protowire.Number]bool{}
	oneof := address.ProtoReflect().Descriptor().Fields().ByName("socket_address").ContainingOneof()
	for i := 0; i < oneof.Fields().Len(); i++ {
		numbers.addressOneof[oneof.Fields().Get(i).Number()] = true
	}
	numbers.socketAddress = number(&corev3.SocketAddress{}, "address")
	numbers.requestHTTP = number(&authv3.AttributeContext_Request{}, "http")
	http := &authv3.AttributeContext_HttpRequest{}
	numbers.httpID = number(http, "id")
	numbers.httpMethod = number(http, "method")
	numbers.httpHeaders = number(http, "headers")
	numbers.httpPath = number(http, "path")
	numbers.httpBody = number(http, "body")
	numbers.httpRawBody = number(http, "raw_body")
	numbers.httpHeaderMap = number(http, "header_map")
	numbers.headerMapHeaders = number(&corev3.HeaderMap{}, "headers")
	header := &corev3.HeaderValue{}
	numbers.headerKey = number(header, "key")
	numbers.headerValue = number(header, "value")
	numbers.headerRawValue = number(header, "raw_value")
	numbers.metadataFilter = number(&corev3.Metadata{}, "filter_metadata")
	return numbers
}()
