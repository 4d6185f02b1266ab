// Package envoyconfig contains no code. Its directory holds envoy.yaml, an
// Envoy bootstrap that puts ecsauthz in front of an ECS-style API, and the
// test that parses that file into Envoy's bootstrap proto and checks the
// settings ecsauthz relies on.
package envoyconfig
