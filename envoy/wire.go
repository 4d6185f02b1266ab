package envoy

import (
	"fmt"
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
// [ParseCheckRequest] reads, and its header values, body and
// ContextExtensions entries alias wire, so wire must not change while out is
// in use. Repeated calls with one out reuse its header storage and its
// ContextExtensions map, so a caller must not keep that map past the next
// call.
//
// The result is the same as decoding wire with [UnmarshalCheckRequest] and
// calling ParseCheckRequest. Fields follow protobuf's rules for repeated
// fields, merged messages and oneofs. Invalid UTF-8 in any string field and
// bytes that are not a CheckRequest give an error wrapping
// [ErrInvalidRequest]. A fuzz test checks this equivalence.
//
// One pass over the bytes both reads the fields and validates every string
// field of the message, including the fields it does not read. Decoding the
// whole message builds a Go map of every header, so this function costs a
// fraction of the allocations of proto.Unmarshal.
func ParseCheckRequestWire(wire []byte, out *Request) error {
	pairs, list := out.Headers.pairs[:0], out.Headers.rawList[:0]
	extensions := out.extensionStorage
	clear(extensions)
	*out = Request{extensionStorage: extensions}

	state := wireState{pairs: pairs, list: list, extensions: extensions}
	failure, marked := "", false
	state.fields(wire, checkRequestSchema, 0, func(num protowire.Number, value []byte) bool {
		switch num {
		case fieldNumbers.checkAttributes:
			state.attributes(value, 1)
			return true
		case decodeFailureField:
			// A client-sent decode-failure mark is rejected as in
			// ParseCheckRequest.
			if !marked {
				failure, marked = string(value), true
			}
		}
		return false
	})
	out.Headers.pairs, out.Headers.rawList = state.pairs, state.list
	out.extensionStorage = state.extensions
	if state.invalid {
		return invalidWireError(wire)
	}
	if marked {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, failure)
	}
	return state.finish(out)
}

// invalidWireError names what made wire invalid: a malformed message or the
// first string field with invalid UTF-8. It walks the message again
// with its descriptors, which only a rejected request pays for.
func invalidWireError(wire []byte) error {
	field, err := firstInvalidUTF8(wire, checkRequestDescriptor, "", 0)
	switch {
	case err != nil:
		return fmt.Errorf("%w: malformed protobuf: %v", ErrInvalidRequest, err)
	case field != "":
		return fmt.Errorf("%w: invalid UTF-8 in %s", ErrInvalidRequest, field)
	default:
		// NOTE: only a disagreement between validWire and
		// firstInvalidUTF8 leads here. FuzzParseWireMatchesProto checks
		// that they agree.
		return fmt.Errorf("%w: malformed protobuf", ErrInvalidRequest)
	}
}

// wireState collects the fields of one CheckRequest. Later occurrences
// overwrite earlier ones, as protobuf merges repeated singular fields.
type wireState struct {
	// invalid is set when the message is malformed, nests deeper than
	// maxWireDepth or has invalid UTF-8 in a string field.
	invalid          bool
	hasHTTP          bool
	method, path, id string
	body             []byte
	textBody         string
	pairs, list      []headerPair
	// pairIndex maps header names to their index in pairs once there are
	// too many pairs to search linearly.
	pairIndex       map[string]int
	sourcePrincipal string
	shape           requestShape
	// extensions is the reused context_extensions map, nil until the first
	// request that has entries.
	extensions    map[string]string
	hasExtensions bool
	jwtAuthn      []byte
	hasJWTAuthn   bool
}

// fields walks the message b of type m at nesting depth. It calls visit for
// every length-delimited field. visit returns true when it has walked the
// field's payload itself with fields, and false to have the payload
// validated against m. Other fields need no validation, and the only one
// read is the varint attributes.request.http.size.
// Problems set s.invalid and stop the walk of b.
func (s *wireState) fields(b []byte, m *wireMessage, depth int, visit func(num protowire.Number, value []byte) bool) {
	if depth > maxWireDepth {
		s.invalid = true
		return
	}
	for len(b) > 0 && !s.invalid {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			s.invalid = true
			return
		}
		b = b[tagLen:]
		if typ != protowire.BytesType {
			valueLen := protowire.ConsumeFieldValue(num, typ, b)
			if valueLen < 0 {
				s.invalid = true
				return
			}
			if typ == protowire.VarintType && m == httpRequestSchema && num == fieldNumbers.httpSize {
				size, _ := protowire.ConsumeVarint(b)
				s.shape.size = int64(size)
			}
			b = b[valueLen:]
			continue
		}
		value, valueLen := protowire.ConsumeBytes(b)
		if valueLen < 0 {
			s.invalid = true
			return
		}
		b = b[valueLen:]
		if !visit(num, value) && !m.validField(num, value, depth) {
			s.invalid = true
		}
	}
}

func (s *wireState) attributes(b []byte, depth int) {
	s.fields(b, attributeContextSchema, depth, func(num protowire.Number, value []byte) bool {
		switch num {
		case fieldNumbers.attrSource:
			s.peer(value, depth+1)
			return true
		case fieldNumbers.attrRequest:
			s.fields(value, requestSchema, depth+1, func(num protowire.Number, value []byte) bool {
				if num != fieldNumbers.requestHTTP {
					return false
				}
				s.hasHTTP = true
				s.http(value, depth+2)
				return true
			})
			return true
		case fieldNumbers.attrContextExtensions:
			key, entry := s.mapEntry(value, contextExtensionsEntrySchema, depth+1)
			if s.extensions == nil {
				s.extensions = make(map[string]string)
			}
			s.extensions[key] = entry
			s.hasExtensions = true
			return true
		case fieldNumbers.attrMetadataContext:
			s.metadata(value, depth+1)
			return true
		}
		return false
	})
}

func (s *wireState) peer(b []byte, depth int) {
	s.fields(b, peerSchema, depth, func(num protowire.Number, value []byte) bool {
		switch num {
		case fieldNumbers.peerPrincipal:
			s.sourcePrincipal = aliasString(value)
		case fieldNumbers.peerAddress:
			if s.shape.address == addressAbsent {
				s.shape.address = addressOther
			}
			s.address(value, depth+1)
			return true
		}
		return false
	})
}

// address reads which member of the Address oneof is set and
// socket_address.address. The other members replace socket_address, so they
// clear the value.
func (s *wireState) address(b []byte, depth int) {
	s.fields(b, addressSchema, depth, func(num protowire.Number, value []byte) bool {
		switch {
		case num == fieldNumbers.addressSocket:
			if s.shape.address != addressSocket {
				s.shape.address, s.shape.socketAddress = addressSocket, ""
			}
			s.fields(value, socketAddressSchema, depth+1, func(num protowire.Number, value []byte) bool {
				if num == fieldNumbers.socketAddress {
					s.shape.socketAddress = aliasString(value)
				}
				return false
			})
			return true
		case fieldNumbers.addressOneof[num]:
			s.shape.address, s.shape.socketAddress = addressOther, ""
		}
		return false
	})
}

func (s *wireState) http(b []byte, depth int) {
	s.fields(b, httpRequestSchema, depth, func(num protowire.Number, value []byte) bool {
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
			key, entry := s.mapEntry(value, headersEntrySchema, depth+1)
			s.setPair(key, entry)
			s.shape.headers++
			return true
		case fieldNumbers.httpHeaderMap:
			s.fields(value, headerMapSchema, depth+1, func(num protowire.Number, value []byte) bool {
				if num != fieldNumbers.headerMapHeaders {
					return false
				}
				s.list = append(s.list, s.headerValuePair(value, depth+2))
				s.shape.headerMap++
				return true
			})
			return true
		}
		return false
	})
}

// metadata keeps the last jwt_authn entry of filter_metadata, because a
// later map entry replaces an earlier one with the same key.
func (s *wireState) metadata(b []byte, depth int) {
	s.fields(b, metadataSchema, depth, func(num protowire.Number, value []byte) bool {
		if num != fieldNumbers.metadataFilter {
			return false
		}
		var key string
		var entry []byte
		s.fields(value, filterMetadataEntrySchema, depth+1, func(num protowire.Number, value []byte) bool {
			switch num {
			case 1:
				key = aliasString(value)
			case 2:
				entry = value
			}
			return false
		})
		if key == JWTAuthnNamespace {
			s.jwtAuthn, s.hasJWTAuthn = entry, true
		}
		return true
	})
}

// finish applies the checks of ParseCheckRequest to the collected fields.
func (s *wireState) finish(out *Request) error {
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
	out.SourcePrincipal = s.sourcePrincipal
	if err := checkShape(out, &s.shape); err != nil {
		return err
	}

	if s.hasJWTAuthn {
		payload := &structpb.Struct{}
		if err := proto.Unmarshal(s.jwtAuthn, payload); err != nil {
			return fmt.Errorf("%w: jwt_authn metadata: %v", ErrInvalidRequest, err)
		}
		out.JWTAuthn = payload
	}
	// The map of the proto path is nil when the request has no entries.
	if s.hasExtensions {
		out.ContextExtensions = s.extensions
	}
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
func (s *wireState) headerValuePair(b []byte, depth int) headerPair {
	var pair headerPair
	var raw []byte
	s.fields(b, headerValueSchema, depth, func(num protowire.Number, value []byte) bool {
		switch num {
		case fieldNumbers.headerKey:
			pair.name = aliasString(value)
		case fieldNumbers.headerValue:
			pair.value = aliasString(value)
		case fieldNumbers.headerRawValue:
			raw = value
		}
		return false
	})
	if len(raw) > 0 {
		if pair.value != "" {
			s.shape.valueAndRaw = true
		}
		pair.value = aliasString(raw)
	}
	return pair
}

// mapEntry reads the key and value of a map<string, string> entry of type
// m.
func (s *wireState) mapEntry(b []byte, m *wireMessage, depth int) (key, value string) {
	s.fields(b, m, depth, func(num protowire.Number, field []byte) bool {
		switch num {
		case 1:
			key = aliasString(field)
		case 2:
			value = aliasString(field)
		}
		return false
	})
	return key, value
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

// wireMessage is the validation view of a message descriptor: the fields
// that are strings or messages, by field number. Looking a
// field up is a slice index, where the descriptor needs an interface call
// and a map lookup.
type wireMessage struct {
	// dense contains the fields numbered below maxDenseField, indexed by
	// number.
	dense []wireField
	// sparse contains the fields with larger numbers.
	sparse map[protowire.Number]wireField
}

// maxDenseField bounds the field numbers that wireMessage keeps in a slice.
// Envoy's messages number their fields from 1 with few gaps.
const maxDenseField = 64

type wireKind uint8

const (
	// wireOther is a field that needs no validation: unknown, bytes or a
	// scalar.
	wireOther wireKind = iota
	wireString
	wireNested
)

type wireField struct {
	kind    wireKind
	message *wireMessage // the field's type when kind is wireNested
}

func (m *wireMessage) field(num protowire.Number) wireField {
	if num < maxDenseField {
		if int(num) < len(m.dense) {
			return m.dense[num]
		}
		return wireField{}
	}
	return m.sparse[num]
}

// validField reports whether the payload of field num, at nesting depth
// in m, is valid: valid UTF-8 for a string, a valid message for a message.
func (m *wireMessage) validField(num protowire.Number, payload []byte, depth int) bool {
	field := m.field(num)
	switch field.kind {
	case wireString:
		return utf8.Valid(payload)
	case wireNested:
		return validWire(payload, field.message, depth+1)
	default:
		return true
	}
}

// validWire reports whether b is a well-formed message of type m, no deeper
// than maxWireDepth, in which every string field holds valid UTF-8. It
// accepts exactly what firstInvalidUTF8 accepts, without naming the field.
func validWire(b []byte, m *wireMessage, depth int) bool {
	if depth > maxWireDepth {
		return false
	}
	for len(b) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return false
		}
		b = b[tagLen:]
		if typ != protowire.BytesType {
			valueLen := protowire.ConsumeFieldValue(num, typ, b)
			if valueLen < 0 {
				return false
			}
			b = b[valueLen:]
			continue
		}
		payload, valueLen := protowire.ConsumeBytes(b)
		if valueLen < 0 {
			return false
		}
		b = b[valueLen:]
		if !m.validField(num, payload, depth) {
			return false
		}
	}
	return true
}

// wireSchemas is a cache of wireMessages by message type, so that each is
// built once and recursive types such as google.protobuf.Struct refer to
// themselves.
type wireSchemas map[protoreflect.FullName]*wireMessage

func (schemas wireSchemas) of(desc protoreflect.MessageDescriptor) *wireMessage {
	if m, ok := schemas[desc.FullName()]; ok {
		return m
	}
	m := &wireMessage{}
	schemas[desc.FullName()] = m
	fields := desc.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		var field wireField
		switch fd.Kind() {
		case protoreflect.StringKind:
			field.kind = wireString
		case protoreflect.MessageKind:
			field = wireField{kind: wireNested, message: schemas.of(fd.Message())}
		default:
			continue
		}
		num := fd.Number()
		if num >= maxDenseField {
			if m.sparse == nil {
				m.sparse = map[protowire.Number]wireField{}
			}
			m.sparse[num] = field
			continue
		}
		if int(num) >= len(m.dense) {
			m.dense = append(m.dense, make([]wireField, int(num)+1-len(m.dense))...)
		}
		m.dense[num] = field
	}
	return m
}

// The schemas of the messages that ParseCheckRequestWire reads field by
// field. Every other message is validated through these.
var (
	wireSchemaSet                = wireSchemas{}
	checkRequestSchema           = wireSchemaSet.of(checkRequestDescriptor)
	attributeContextSchema       = wireSchemaSet.of((&authv3.AttributeContext{}).ProtoReflect().Descriptor())
	requestSchema                = wireSchemaSet.of((&authv3.AttributeContext_Request{}).ProtoReflect().Descriptor())
	peerSchema                   = wireSchemaSet.of((&authv3.AttributeContext_Peer{}).ProtoReflect().Descriptor())
	addressSchema                = wireSchemaSet.of((&corev3.Address{}).ProtoReflect().Descriptor())
	socketAddressSchema          = wireSchemaSet.of((&corev3.SocketAddress{}).ProtoReflect().Descriptor())
	httpRequestSchema            = wireSchemaSet.of((&authv3.AttributeContext_HttpRequest{}).ProtoReflect().Descriptor())
	headerMapSchema              = wireSchemaSet.of((&corev3.HeaderMap{}).ProtoReflect().Descriptor())
	headerValueSchema            = wireSchemaSet.of((&corev3.HeaderValue{}).ProtoReflect().Descriptor())
	metadataSchema               = wireSchemaSet.of((&corev3.Metadata{}).ProtoReflect().Descriptor())
	headersEntrySchema           = mapEntrySchema(httpRequestSchema, "headers", &authv3.AttributeContext_HttpRequest{})
	contextExtensionsEntrySchema = mapEntrySchema(attributeContextSchema, "context_extensions", &authv3.AttributeContext{})
	filterMetadataEntrySchema    = mapEntrySchema(metadataSchema, "filter_metadata", &corev3.Metadata{})
)

// mapEntrySchema returns the schema of the entry message of the map field
// name of parent.
func mapEntrySchema(parent *wireMessage, name string, m proto.Message) *wireMessage {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !fd.IsMap() {
		panic("envoy: generated descriptor has no map field " + name)
	}
	return parent.field(fd.Number()).message
}

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
	httpSize                                                            protowire.Number
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
	numbers.httpSize = number(http, "size")
	numbers.httpHeaderMap = number(http, "header_map")
	numbers.headerMapHeaders = number(&corev3.HeaderMap{}, "headers")
	header := &corev3.HeaderValue{}
	numbers.headerKey = number(header, "key")
	numbers.headerValue = number(header, "value")
	numbers.headerRawValue = number(header, "raw_value")
	numbers.metadataFilter = number(&corev3.Metadata{}, "filter_metadata")
	return numbers
}()
