// Package deploy contains no code. Its directory holds the files that run
// ecsauthz next to Envoy: a Dockerfile, Kubernetes manifests, a compose
// file and, in envoy/, the Envoy bootstrap. The tests check that these
// files parse and agree with each other, because no container engine or
// cluster runs them in CI.
package deploy
