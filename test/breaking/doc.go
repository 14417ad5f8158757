// Package breaking proves that scripts/breaking-check.sh, the CI guard of the
// wire contract, does its job: on temporary copies of the repository's
// proto/, buf.yaml, scripts/ and contract/ it makes deliberately
// incompatible changes and expects the script to reject them by the buf
// rule that names the break, and makes compatible ones and expects them to
// pass and to be accepted into the baseline by --update-baseline.
//
// The copies share the repository's .cache/bin, so buf is installed at most
// once, by scripts/buf.sh. When it cannot be installed (no Go module proxy)
// the tests skip, except under CI (CI set), where they fail.
package breaking
