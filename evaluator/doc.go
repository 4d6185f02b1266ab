// Package evaluator implements Huawei IAM's policy language (Version 1.1) and
// decides whether a principal may perform the actions a request requires.
package evaluator
