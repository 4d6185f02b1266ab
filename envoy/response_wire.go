package envoy

import (
	"slices"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// Field numbers of the CheckResponse messages that the Responder fills, from
// envoy/service/auth/v3/external_auth.proto, envoy/config/core/v3/base.proto
// and envoy/type/v3/http_status.proto. TestAppendResponseCases checks the
// encoding against proto.Marshal.
const (
	checkResponseDenied protowire.Number = 2
	checkResponseOK     protowire.Number = 3

	deniedStatus  protowire.Number = 1
	deniedHeaders protowire.Number = 2
	deniedBody    protowire.Number = 3

	okHeaders         protowire.Number = 2
	okHeadersToRemove protowire.Number = 5

	optionHeader   protowire.Number = 1
	headerKey      protowire.Number = 1
	headerValueNum protowire.Number = 2
	httpStatusCode protowire.Number = 1
)

// RawCheckResponse is a CheckResponse already in wire form. [Codec] sends
// the bytes as they are.
type RawCheckResponse struct {
	Wire []byte
}

// wireTemplates are the invariant parts of a Responder's responses,
// serialized once with proto.Marshal. Each field ending in Field is a
// complete field: tag, length and message.
type wireTemplates struct {
	allowStatusField []byte
	// overwriteTail and overwriteKeepEmptyTail are the fields of a
	// HeaderValueOption after its header: append, append_action and, in
	// the second, keep_empty_value.
	overwriteTail          []byte
	overwriteKeepEmptyTail []byte
	// removeAll and removeTrusted are the headers_to_remove fields of an
	// OkHttpResponse.
	removeAll     []byte
	removeTrusted []byte
	denies        map[evaluator.Reason]*denyWire
	fallback      *denyWire
	// validUTF8 is false when a configured header name is not valid UTF-8,
	// which proto.Marshal rejects.
	validUTF8 bool
}

// denyWire is a denyTemplate in wire form.
type denyWire struct {
	statusField     []byte
	httpStatusField []byte
	// fixed holds one headers field of DeniedHttpResponse per fixed header.
	fixed      [][]byte
	body       string
	bodyPrefix string
	bodySuffix string
}

// buildWire serializes the invariant parts of p's responses. It runs once,
// after the message templates exist.
func (p *Responder) buildWire() {
	w := &wireTemplates{denies: make(map[evaluator.Reason]*denyWire, len(p.denies))}
	w.allowStatusField = marshalField(nil, 1, p.allowStatus)

	tail := &corev3.HeaderValueOption{}
	p.setOverwrite(tail)
	w.overwriteTail = marshalField(nil, 0, tail)
	tail.KeepEmptyValue = true
	w.overwriteKeepEmptyTail = marshalField(nil, 0, tail)

	w.validUTF8 = validUTF8(p.removeAll)
	for _, name := range p.removeAll {
		w.removeAll = protowire.AppendTag(w.removeAll, okHeadersToRemove, protowire.BytesType)
		w.removeAll = protowire.AppendString(w.removeAll, name)
	}
	for _, name := range p.removeTrusted {
		w.removeTrusted = protowire.AppendTag(w.removeTrusted, okHeadersToRemove, protowire.BytesType)
		w.removeTrusted = protowire.AppendString(w.removeTrusted, name)
	}

	for reason, template := range p.denies {
		deny := &denyWire{
			statusField:     marshalField(nil, 1, template.status),
			httpStatusField: marshalField(nil, deniedStatus, template.httpStatus),
			body:            template.body,
			bodyPrefix:      template.bodyPrefix,
			bodySuffix:      template.bodySuffix,
		}
		for _, option := range template.fixed {
			deny.fixed = append(deny.fixed, marshalField(nil, deniedHeaders, option))
		}
		w.denies[reason] = deny
		if template == p.fallback {
			w.fallback = deny
		}
	}
	p.wire = w
}

// marshalField appends m to b as field num of a message. With num 0 it
// appends only the fields of m.
func marshalField(b []byte, num protowire.Number, m proto.Message) []byte {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		// The templates contain only valid UTF-8 constants.
		panic("envoy: cannot serialize a response template: " + err.Error())
	}
	if num == 0 {
		return append(b, raw...)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

// EncodeResponse returns the response to r for [Codec] to send: a
// [RawCheckResponse] from AppendResponse, or the message from Response when
// a string in r or in the configured header names is not valid UTF-8.
// proto.Marshal rejects such a message, so the gRPC call fails as it does
// without EncodeResponse.
func (p *Responder) EncodeResponse(r *Result) any {
	if !p.wire.validUTF8 || !r.validUTF8() {
		return p.Response(r)
	}
	return &RawCheckResponse{Wire: p.AppendResponse(nil, r)}
}

func (r *Result) validUTF8() bool {
	return utf8.ValidString(string(r.Reason)) && utf8.ValidString(r.DeniedAction) &&
		utf8.ValidString(r.DecisionID) && utf8.ValidString(r.UserID) &&
		utf8.ValidString(r.DomainID) && validUTF8(r.GrantedEnterpriseProjects)
}

func validUTF8(values []string) bool {
	for _, value := range values {
		if !utf8.ValidString(value) {
			return false
		}
	}
	return true
}

// AppendResponse appends the wire form of the CheckResponse that
// [Responder.Response] builds for r. proto.Unmarshal of the bytes yields a
// message proto.Equal to that response when every string in r and in the
// configured header names is valid UTF-8. It does not check this, but
// [Responder.EncodeResponse] does.
func (p *Responder) AppendResponse(b []byte, r *Result) []byte {
	if r.Allowed {
		return p.appendAllow(b, r)
	}
	return p.appendDeny(b, r)
}

func (p *Responder) appendAllow(b []byte, r *Result) []byte {
	w := p.wire
	tail := w.overwriteKeepEmptyTail
	remove := w.removeAll
	granted := ""
	if r.AllGrantedEPs {
		granted = strings.Join(r.GrantedEnterpriseProjects, ",")
		remove = w.removeTrusted
	}

	size := optionFieldSize(okHeaders, tail, UserIDHeader, r.UserID) +
		optionFieldSize(okHeaders, tail, DomainIDHeader, r.DomainID) +
		optionFieldSize(okHeaders, tail, DecisionIDHeader, r.DecisionID) +
		len(remove)
	if r.AllGrantedEPs {
		size += optionFieldSize(okHeaders, tail, GrantedEPsHeader, granted)
	}

	b = slices.Grow(b, len(w.allowStatusField)+protowire.SizeTag(checkResponseOK)+protowire.SizeBytes(size))
	b = append(b, w.allowStatusField...)
	b = protowire.AppendTag(b, checkResponseOK, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = appendOption(b, okHeaders, tail, UserIDHeader, r.UserID)
	b = appendOption(b, okHeaders, tail, DomainIDHeader, r.DomainID)
	b = appendOption(b, okHeaders, tail, DecisionIDHeader, r.DecisionID)
	if r.AllGrantedEPs {
		b = appendOption(b, okHeaders, tail, GrantedEPsHeader, granted)
	}
	return append(b, remove...)
}

func (p *Responder) appendDeny(b []byte, r *Result) []byte {
	w := p.wire
	deny, known := w.denies[r.Reason]
	if !known {
		deny = w.fallback
	}
	tail := w.overwriteTail

	// An unrecognised reason gets the implicit-deny response, but the
	// reason header still reports the reason the caller passed.
	replaceReason := !known && r.Reason != ""
	action := ""
	if r.DeniedAction != "" && isPlainJSONString(r.DeniedAction) {
		action = r.DeniedAction
	}
	var code int32
	if r.HTTPStatus > 0 {
		code = int32(r.HTTPStatus)
	}

	size := 0
	if code != 0 {
		size += protowire.SizeTag(deniedStatus) + protowire.SizeBytes(statusCodeSize(code))
	} else if r.HTTPStatus <= 0 {
		size += len(deny.httpStatusField)
	} else {
		// The status code truncates to 0, which proto3 leaves out.
		size += protowire.SizeTag(deniedStatus) + protowire.SizeBytes(0)
	}
	for i, field := range deny.fixed {
		if i == 1 && replaceReason {
			size += optionFieldSize(deniedHeaders, tail, ReasonHeader, string(r.Reason))
			continue
		}
		size += len(field)
	}
	if action != "" {
		size += optionFieldSize(deniedHeaders, tail, DeniedActionHeader, action)
	}
	if r.DecisionID != "" {
		size += optionFieldSize(deniedHeaders, tail, DecisionIDHeader, r.DecisionID)
	}
	bodyLen := len(deny.body)
	bodyAction := action
	if deny.body == "" {
		if bodyAction == "" {
			bodyAction = "the action"
		}
		bodyLen = len(deny.bodyPrefix) + len(bodyAction) + len(deny.bodySuffix)
	}
	size += protowire.SizeTag(deniedBody) + protowire.SizeBytes(bodyLen)

	b = slices.Grow(b, len(deny.statusField)+protowire.SizeTag(checkResponseDenied)+protowire.SizeBytes(size))
	b = append(b, deny.statusField...)
	b = protowire.AppendTag(b, checkResponseDenied, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))

	switch {
	case code != 0:
		b = protowire.AppendTag(b, deniedStatus, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(statusCodeSize(code)))
		b = protowire.AppendTag(b, httpStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(code)))
	case r.HTTPStatus <= 0:
		b = append(b, deny.httpStatusField...)
	default:
		b = protowire.AppendTag(b, deniedStatus, protowire.BytesType)
		b = protowire.AppendVarint(b, 0)
	}
	for i, field := range deny.fixed {
		if i == 1 && replaceReason {
			b = appendOption(b, deniedHeaders, tail, ReasonHeader, string(r.Reason))
			continue
		}
		b = append(b, field...)
	}
	if action != "" {
		b = appendOption(b, deniedHeaders, tail, DeniedActionHeader, action)
	}
	if r.DecisionID != "" {
		b = appendOption(b, deniedHeaders, tail, DecisionIDHeader, r.DecisionID)
	}

	b = protowire.AppendTag(b, deniedBody, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(bodyLen))
	if deny.body != "" {
		return append(b, deny.body...)
	}
	b = append(b, deny.bodyPrefix...)
	b = append(b, bodyAction...)
	return append(b, deny.bodySuffix...)
}

// statusCodeSize returns the encoded size of an HttpStatus with a non-zero
// code. protobuf encodes an enum as a sign-extended varint.
func statusCodeSize(code int32) int {
	return protowire.SizeTag(httpStatusCode) + protowire.SizeVarint(uint64(int64(code)))
}

// headerSize returns the size of a HeaderValue. proto3 leaves out an empty
// value.
func headerSize(key, value string) int {
	size := protowire.SizeTag(headerKey) + protowire.SizeBytes(len(key))
	if value != "" {
		size += protowire.SizeTag(headerValueNum) + protowire.SizeBytes(len(value))
	}
	return size
}

func optionSize(tail []byte, key, value string) int {
	return protowire.SizeTag(optionHeader) + protowire.SizeBytes(headerSize(key, value)) + len(tail)
}

func optionFieldSize(num protowire.Number, tail []byte, key, value string) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(optionSize(tail, key, value))
}

// appendOption appends a HeaderValueOption for key and value as field num,
// followed by the pre-serialized fields in tail.
func appendOption(b []byte, num protowire.Number, tail []byte, key, value string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(optionSize(tail, key, value)))
	b = protowire.AppendTag(b, optionHeader, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(headerSize(key, value)))
	b = protowire.AppendTag(b, headerKey, protowire.BytesType)
	b = protowire.AppendString(b, key)
	if value != "" {
		b = protowire.AppendTag(b, headerValueNum, protowire.BytesType)
		b = protowire.AppendString(b, value)
	}
	return append(b, tail...)
}
