/**
 * The usage texts: the general one (`hotline --help`) and one per command
 * (`hotline <command> --help`, and under every usage error of that command).
 * docs/cli.md is the long form of the same.
 */

export const USAGE = `Usage: hotline <command> [options]

Commands:
  connect URL      a client, like wscat: interactive on a terminal; in a pipe, one
                   message per line in, one per line out (--transport: over SSE,
                   long-polling, polling or interval-polling)
  echo --port N    an echo server on every path, over WebSocket and every HTTP
                   transport; /broadcast relays each message to all on it
  serve, bench     the lab and the benchmarks (package @hotline/lab; in the
                   repository: npm start)

Options:
  -h, --help       show this help (hotline <command> --help: that command's)
  -v, --version    show the version

Exit codes: 0 done, 1 connection failed or lost, 2 usage error, 3 --wait ran out.
`;

/** The pipe rule, shared by the usage text and docs/cli.md. */
export const QUIET_PERIOD = 300;
export const DEFAULT_WAIT = 10_000;

export const CONNECT_USAGE = `Usage: hotline connect [options] URL

Opens a connection and sends what you type; prints what arrives. On a terminal: a
prompt with history (up/down), messages printed above the line being typed, colours;
Ctrl-C or Ctrl-D closes with 1000. In a pipe: each stdin line is a message, each
message received is printed on its own line (binary as "[binary N bytes] hex").

URL: ws://, wss://, http:// or https://; without a scheme, ws:// is added (http://
with --transport), so "localhost:9001" works.

Options:
  -x, --execute MSG        send MSG once connected (repeatable, in order), print the
                           replies, close and exit; stdin is not read
  -w, --wait SECONDS       at the end of input (or -x), how long at most to wait for
                           replies (seconds, or with a unit: 500ms, 2s; default 10)
  -H, --header 'N: V'      a request header (repeatable)
  -s, --subprotocol P      offer subprotocol P (repeatable); alias --protocol
  -P, --show-ping-pong     print the pings and pongs received (WebSocket only)
      --transport T[,T..]  the Hotline client over websocket, sse, long-polling,
                           polling or interval-polling (a list is tried in order)
      --interval MS        ms between polls (polling, interval-polling; default the
                           server's)
      --deflate            offer permessage-deflate (WebSocket)
      --http2              open the WebSocket over HTTP/2 (RFC 8441: wss:// with ALPN
                           h2, ws:// as cleartext HTTP/2); fails if the server does
                           not accept WebSockets over HTTP/2
      --ca FILE            trust the CA certificate(s) in FILE (PEM) for wss:// and
                           https://, e.g. a self-signed certificate
  -k, --insecure, --no-check
                           do not verify the server's certificate (wss://, https://)
      --no-color           no colours (also: the NO_COLOR environment variable)
  -h, --help               show this help

The pipe rule: when input ends (or after -x), connect waits until everything it sent
is acknowledged (HTTP transports: by the server; WebSocket: handed to the network),
then until the transport has completed one full receive cycle begun after that
(WebSocket: a ping answered by its pong; polling and interval-polling: a poll sent
after the acknowledgement has returned; SSE and long-polling push at once), then
until no message has arrived for ${QUIET_PERIOD} ms; then it closes with 1000. --wait bounds all
of it, counted from the end of input or from the open, whichever is later.

Exit codes: 0 opened and closed normally; 1 the connection failed, was lost or was
closed by the server with an error code; 2 usage error; 3 --wait ran out before what
was sent was acknowledged and a receive cycle completed (replies may be missing).

Examples:
  hotline connect localhost:9001
  hotline connect wss://example.com/chat -H 'Authorization: Bearer T' -s chat.v1
  hotline connect -x hello -x '{"op":"ping"}' ws://127.0.0.1:9001/
  printf 'one\\ntwo\\n' | hotline connect --transport interval-polling http://127.0.0.1:9001/
  hotline connect --ca cert.pem wss://127.0.0.1:9443/
  hotline connect --http2 --ca cert.pem wss://127.0.0.1:9443/
`;

export const ECHO_USAGE = `Usage: hotline echo --port N [options]

An echo server: every path echoes each message (text as text, binary as binary) over
WebSocket, SSE, long-polling, polling and interval-polling; on /broadcast each
message goes to every connection on /broadcast instead. Stops on Ctrl-C, closing
every connection with 1001; on SIGTERM (a deploy) it drains: stops listening, refuses
new connections (503) and closes each one with 1012 at a random moment within the
drain window, so that clients come back elsewhere in a trickle.

Options:
      --port N             the port, 0 to 65535 (0: any free port)
      --host H             the address to listen on (default: every interface;
                           127.0.0.1 for this machine only)
      --max-payload BYTES  the largest message accepted (default 16 MiB); larger
                           ones close the connection with 1009
      --deflate            accept permessage-deflate
      --drain-window MS    on SIGTERM, close the connections over MS ms
                           (default 10000; 0: all at once)
      --redis URL          share /broadcast with every node on this Redis
                           (redis:// or rediss://; needs npm install redis):
                           run several behind a load balancer, no sticky sessions
      --advertise ORIGIN   with --redis, how the other nodes reach this one for
                           its HTTP sessions (default http://127.0.0.1:PORT)
      --tls-key FILE       serve wss:// and https:// with this private key (PEM)
      --tls-cert FILE      ... and this certificate (PEM); both or neither
      --self-signed        serve TLS with a certificate made at start for localhost,
                           127.0.0.1 and ::1; its SHA-256 fingerprints are printed
      --no-http2           with TLS, HTTP/1.1 only (default: HTTP/2 by ALPN too,
                           WebSocket over HTTP/2 per RFC 8441)
  -h, --help               show this help

Examples:
  hotline echo --port 9001
  hotline echo --port 0 --host 127.0.0.1 --max-payload 65536
  hotline echo --port 9001      then, in another terminal: hotline connect localhost:9001
  hotline echo --port 9001 --redis redis://127.0.0.1:6379   (and 9002, 9003... on the same Redis)
  hotline echo --port 9443 --self-signed     then: hotline connect --no-check wss://localhost:9443/
  hotline echo --port 9443 --tls-key key.pem --tls-cert cert.pem
`;

export const LAB_MISSING = (command: string) => `Usage: hotline ${command} ...

\`hotline ${command}\` is a command of the lab, a package of its own so that installing
the library never downloads it:

  npm install @hotline/lab     then: npx hotline ${command} --help
  (in the repository: npm start)
`;
