package evaluator

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidatePolicyErrors(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		sentinel error
		want     []string // substrings, each of one joined error
	}{
		{
			name:     "not JSON",
			doc:      `{"Version":`,
			sentinel: ErrInvalidPolicy,
			want:     []string{`policy "p": invalid policy: document is not a JSON object`},
		},
		{
			name:     "wrong version",
			doc:      `{"Version":"1.0","Statement":[{"Effect":"Allow","Action":["ecs:*:*"]}]}`,
			sentinel: ErrInvalidPolicy,
			want:     []string{`policy "p", Version: invalid policy: must be "1.1", got "1.0"`},
		},
		{
			name:     "missing statement",
			doc:      `{"Version":"1.1"}`,
			sentinel: ErrInvalidPolicy,
			want:     []string{`policy "p", Statement: invalid policy: missing`},
		},
		{
			name:     "unknown document field",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"]}],"Id":"x"}`,
			sentinel: ErrInvalidPolicy,
			want:     []string{`policy "p": invalid policy: unknown field "Id"`},
		},
		{
			name:     "every statement problem at once",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"]},{"Effect":"allow","Action":["ECS:servers:list","ecs:servers"],"Sid":"x"}]}`,
			sentinel: ErrInvalidPolicy,
			want: []string{
				`policy "p", Statement[1]: invalid policy: unknown field "Sid"`,
				`policy "p", Statement[1].Effect: invalid policy: must be "Allow" or "Deny", got "allow"`,
				`policy "p", Statement[1].Action[0]: invalid policy: invalid action "ECS:servers:list": the service name must be lower case`,
				`policy "p", Statement[1].Action[1]: invalid policy: invalid action "ecs:servers": expected service:resourceType:operation`,
			},
		},
		{
			name:     "action is a string",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":"ecs:*:*"}]}`,
			sentinel: ErrInvalidPolicy,
			want:     []string{`policy "p", Statement[0].Action: invalid policy: must be a list of strings`},
		},
		{
			name:     "bad character in action",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:servers:li st"]}]}`,
			sentinel: ErrInvalidPolicy,
			want:     []string{`Statement[0].Action[0]: invalid policy: invalid action "ecs:servers:li st": character ' ' is not allowed`},
		},
		{
			name:     "bad resource",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Resource":["ecs:*:instance"]}]}`,
			sentinel: ErrInvalidPolicy,
			want:     []string{`Statement[0].Resource[0]: invalid policy: invalid resource "ecs:*:instance": expected service:region:domainId:resourceType:resourcePath or *`},
		},
		{
			name:     "resource too long",
			doc:      fmt.Sprintf(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Resource":["ecs:*:*:instance:%s"]}]}`, strings.Repeat("a", 120)),
			sentinel: ErrInvalidPolicy,
			want:     []string{`Statement[0].Resource[0]: invalid policy: invalid resource`, `longer than 128 characters`},
		},
		{
			name:     "unknown operator",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"StringEqualz":{"g:UserName":["a"]}}}]}`,
			sentinel: ErrUnsupportedCondition,
			want:     []string{`policy "p", Statement[0].Condition.StringEqualz: unsupported condition: unknown operator "StringEqualz"`},
		},
		{
			name:     "Null with IfExists",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"NullIfExists":{"g:UserName":["true"]}}}]}`,
			sentinel: ErrUnsupportedCondition,
			want:     []string{`Condition.NullIfExists: unsupported condition: operator "Null" does not take the IfExists suffix`},
		},
		{
			name:     "bad typed values",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"NumberEquals":{"g:MFAAge":["ten"]},"DateLessThan":{"g:CurrentTime":["tomorrow"]},"Bool":{"g:MFAPresent":["yes"]},"IpAddress":{"g:SourceIp":["10.0.0.0/33"]}}}]}`,
			sentinel: ErrUnsupportedCondition,
			want: []string{
				`Statement[0].Condition.Bool.g:MFAPresent[0]: unsupported condition: operator Bool: value "yes" is not true or false`,
				`Statement[0].Condition.DateLessThan.g:CurrentTime[0]: unsupported condition: operator DateLessThan: value "tomorrow" is not an RFC 3339 time`,
				`Statement[0].Condition.IpAddress.g:SourceIp[0]: unsupported condition: operator IpAddress: value "10.0.0.0/33" is not an IP address or CIDR prefix`,
				`Statement[0].Condition.NumberEquals.g:MFAAge[0]: unsupported condition: operator NumberEquals: value "ten" is not a number`,
			},
		},
		{
			name:     "condition without values",
			doc:      `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"StringEquals":{"g:UserName":[]}}}]}`,
			sentinel: ErrInvalidPolicy,
			want:     []string{`Statement[0].Condition.StringEquals.g:UserName: invalid policy: has no values`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePolicy("p", []byte(tt.doc), DefaultLimits())
			if err == nil {
				t.Fatalf("ValidatePolicy(%s) = nil, want errors %q", tt.doc, tt.want)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("ValidatePolicy error %v does not wrap %v", err, tt.sentinel)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ValidatePolicy error\n%v\ndoes not contain %q", err, w)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(tt.want); tt.name != "resource too long" && got != want {
				t.Errorf("ValidatePolicy returned %d errors, want %d:\n%v", got, want, err)
			}
		})
	}
}

func TestValidatePolicyLimits(t *testing.T) {
	statement := `{"Effect":"Allow","Action":["ecs:*:*"]}`
	actions := `"ecs:servers:list"` + strings.Repeat(`,"ecs:servers:list"`, 100)
	resources := `"*"` + strings.Repeat(`,"*"`, 10)
	conditions := `"g:UserName":["a"]`
	for i := range 10 {
		conditions += fmt.Sprintf(`,"g:RequestTag/k%d":["a"]`, i)
	}
	tests := []struct {
		name   string
		doc    string
		limits Limits
		want   string
	}{
		{"statements", `{"Version":"1.1","Statement":[` + strings.Repeat(statement+",", 8) + statement + `]}`, DefaultLimits(),
			`policy "p", Statement: limit exceeded: has 9 statements, more than the limit of 8`},
		{"actions", `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":[` + actions + `]}]}`, DefaultLimits(),
			`policy "p", Statement[0].Action: limit exceeded: has 101 actions, more than the limit of 100`},
		{"resources", `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Resource":[` + resources + `]}]}`, DefaultLimits(),
			`policy "p", Statement[0].Resource: limit exceeded: has 11 resources, more than the limit of 10`},
		{"conditions", `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"StringEquals":{` + conditions + `}}}]}`, DefaultLimits(),
			`policy "p", Statement[0].Condition: limit exceeded: has 11 conditions, more than the limit of 10`},
		{"characters", `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"]}]}` + strings.Repeat(" ", 6144), DefaultLimits(),
			`policy "p": limit exceeded: document has 6215 characters, more than the limit of 6144`},
		{"lowered statements limit", `{"Version":"1.1","Statement":[` + statement + "," + statement + `]}`, Limits{Statements: 1, ActionsPerStatement: 100, ResourcesPerStatement: 10, Conditions: 10, DocumentChars: 6144},
			`has 2 statements, more than the limit of 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePolicy("p", []byte(tt.doc), tt.limits)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidatePolicy = %v, want an error containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrLimitExceeded) {
				t.Errorf("ValidatePolicy error %v does not wrap ErrLimitExceeded", err)
			}
		})
	}
}

func TestCheckPolicyWarnsUnknownKey(t *testing.T) {
	doc := `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"StringEquals":{"ecs:imageID":["img"]}}}]}`
	if err := ValidatePolicy("p", []byte(doc), DefaultLimits()); err != nil {
		t.Fatalf("ValidatePolicy = %v, want nil for an unknown key", err)
	}
	problems := CheckPolicy("p", []byte(doc), DefaultLimits())
	want := `warning: policy "p", Statement[0].Condition.StringEquals.ecs:imageID: unknown condition key "ecs:imageID"; it evaluates as absent`
	if len(problems) != 1 || problems[0].String() != want {
		t.Errorf("CheckPolicy = %v, want [%s]", problems, want)
	}
}

func TestValidatePolicyAccepts(t *testing.T) {
	docs := []string{
		`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*","*:*:*","ecs:*:get*","vpc:publicIps:*","ecs:cloudServers:s?art"]}]}`,
		`{"Version":"1.1","Statement":[{"Effect":"Deny","Action":["ecs:cloudServers:delete"],"Resource":["ECS:*:*:instance:9e0263ee-1c4a-4a1f","ecs:*:*:*:*","*"]}]}`,
		`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"ForAnyValue:StringEqualsIfExists":{"g:TagKeys":["env"]},"Bool":{"g:MFAPresent":[true]},"NumberLessThan":{"g:MFAAge":[3600]}}}]}`,
	}
	for _, doc := range docs {
		if err := ValidatePolicy("p", []byte(doc), DefaultLimits()); err != nil {
			t.Errorf("ValidatePolicy(%s) = %v, want nil", doc, err)
		}
	}
	for _, p := range BuiltinPolicies() {
		if err := ValidatePolicy(p.Name, p.Document, DefaultLimits()); err != nil {
			t.Errorf("built-in policy %q: %v", p.Name, err)
		}
	}
}
