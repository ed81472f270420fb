// Command clawd is both the daemon (`clawd up`) and the CLI that talks to it.
package main

import "github.com/clawd-dev/clawd/cli"

func main() {
	cli.Main(cli.NewRoot(upCommand()))
}
