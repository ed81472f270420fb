#!/usr/bin/env bash
# Installs stripe-mock (pinned) and starts it on 127.0.0.1:12111 for the
# billing tests, unless it already answers there. stripe-mock validates each
# request against Stripe's OpenAPI and answers with fixtures (it keeps no
# state). The tests find it through CLAWD_TEST_STRIPE_MOCK (the Makefile
# exports it); the server is left running for the test run that follows.
set -euo pipefail
VERSION=v0.203.0
ADDR=${STRIPE_MOCK_ADDR:-127.0.0.1:12111}
GOBIN=$(go env GOBIN)
[ -n "$GOBIN" ] || GOBIN=$(go env GOPATH)/bin
LOG=${TMPDIR:-/tmp}/clawd-stripe-mock.log

answers() {
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null -u sk_test_123: "http://$ADDR/v1/balance" 2>/dev/null
	else
		(exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR##*:}") 2>/dev/null
	fi
}

if answers; then
	exit 0
fi
if [ ! -x "$GOBIN/stripe-mock" ] || [ "$(cat "$GOBIN/.stripe-mock.version" 2>/dev/null)" != "$VERSION" ]; then
	echo "installing stripe-mock $VERSION"
	go install "github.com/stripe/stripe-mock@$VERSION"
	echo "$VERSION" >"$GOBIN/.stripe-mock.version"
fi
setsid "$GOBIN/stripe-mock" -http-addr "$ADDR" >"$LOG" 2>&1 </dev/null &
for _ in $(seq 1 100); do
	if answers; then
		echo "stripe-mock $VERSION on $ADDR"
		exit 0
	fi
	sleep 0.1
done
echo "stripe-mock did not answer on $ADDR; its log ($LOG):" >&2
tail -20 "$LOG" >&2
exit 1
