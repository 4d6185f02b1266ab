package loadgen

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ecsauthz/ecsauthz/bench/internal/mix"
)

// healthPollInterval is the pause between health checks while waiting for
// a server to come up.
const healthPollInterval = 50 * time.Millisecond

// WaitServing polls the gRPC health service of conn (overall status, empty
// service name) until it reports SERVING or timeout passes.
func WaitServing(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := healthpb.NewHealthClient(conn)
	var last error
	for {
		response, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && response.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if err == nil {
			last = fmt.Errorf("health status %s", response.GetStatus())
		} else {
			last = err
		}
		if !sleep(ctx, healthPollInterval) {
			return fmt.Errorf("server not SERVING after %v (last result: %v)", timeout, last)
		}
	}
}

// Decision is the outcome of one request of the mix, reduced to what two
// servers doing the same job must agree on.
type Decision struct {
	Name string `json:"name"`
	// Code is the gRPC status code name inside the CheckResponse, or
	// "rpc_error" when the call itself failed.
	Code string `json:"code"`
	// HTTPStatus is the denied response's HTTP status, 0 on allow.
	HTTPStatus int32 `json:"http_status,omitempty"`
	// DeniedAction and Reason are the x-ecsauthz-denied-action and
	// x-ecsauthz-reason headers of a denial.
	DeniedAction string `json:"denied_action,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Error        string `json:"error,omitempty"`
}

// Decide sends every request of the mix once and returns the decisions in
// mix order.
func Decide(ctx context.Context, conn *grpc.ClientConn, requests []mix.Request, timeout time.Duration) []Decision {
	client := authv3.NewAuthorizationClient(conn)
	decisions := make([]Decision, 0, len(requests))
	for _, request := range requests {
		callCtx, cancel := context.WithTimeout(ctx, timeout)
		response, err := client.Check(callCtx, request.Message)
		cancel()
		decisions = append(decisions, toDecision(request.Name, response, err))
	}
	return decisions
}

func toDecision(name string, response *authv3.CheckResponse, err error) Decision {
	if err != nil {
		return Decision{Name: name, Code: "rpc_error", Error: err.Error()}
	}
	decision := Decision{Name: name, Code: codes.Code(response.GetStatus().GetCode()).String()}
	denied := response.GetDeniedResponse()
	if denied == nil {
		return decision
	}
	decision.HTTPStatus = int32(denied.GetStatus().GetCode())
	decision.DeniedAction = headerValue(denied.GetHeaders(), "x-ecsauthz-denied-action")
	decision.Reason = headerValue(denied.GetHeaders(), "x-ecsauthz-reason")
	return decision
}

func headerValue(headers []*corev3.HeaderValueOption, name string) string {
	for _, option := range headers {
		header := option.GetHeader()
		if strings.EqualFold(header.GetKey(), name) {
			if header.GetValue() != "" {
				return header.GetValue()
			}
			return string(header.GetRawValue())
		}
	}
	return ""
}
