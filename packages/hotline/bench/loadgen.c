/*
 * loadgen — the load generator of Hotline's benchmark (bench/run.mjs builds it).
 *
 * One thread, epoll, non-blocking sockets. It speaks the client side of
 * RFC 6455 (Upgrade handshake with a fixed key, every frame masked per §5.3,
 * server frames parsed incrementally with 7/16/64-bit lengths and frames split
 * across reads) and, for the ceiling, a length-prefixed framing: 4-byte
 * big-endian length, then the payload.
 *
 * Modes:
 *   echo       N connections x K messages in flight; each reply sends the next.
 *              Counts round trips during --duration after --warmup.
 *   handshake  open, upgrade (count the 101) and reset connections, at most
 *              --concurrency in progress; stops after --count or --duration.
 *   fanout     N subscribers + 1 publisher on --path; the publisher keeps
 *              --inflight messages not yet delivered to all N. Counts deliveries.
 *   idle       open N connections, print a "ready" line, hold them until stdin
 *              closes (or says anything) or --hold seconds pass.
 *
 * Output: one JSON line of results on stdout (idle: a "ready" line first).
 * cpu_s is this process's user+system time over the measured window, from
 * getrusage; idle_share = 1 - cpu_s / wall_s tells whether the generator had
 * room to spare (near 0 means it may have been the bottleneck).
 *
 * Replies are checked against the payload that was sent: byte for byte up to
 * 64 KiB; above that the first 16 KiB of each message byte for byte and the
 * rest by length only, dropped by the kernel without a copy (MSG_TRUNC).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { M_ECHO, M_HANDSHAKE, M_FANOUT, M_IDLE };
enum { P_WS, P_RAW };
enum { C_FREE, C_CONNECTING, C_SENDREQ, C_UPGRADING, C_OPEN };
enum { R_ECHO, R_SUB, R_PUB, R_HS, R_IDLE };
enum { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_HOLD, PH_DONE };
enum { PS_HEADER, PS_PAYLOAD };

#define MAX_EVENTS 1024
#define RBUF_SIZE (256 * 1024)
#define HBUF_MAX 4096
#define FANOUT_WINDOW 4096
/* Replies up to this size are compared in full; of larger ones the first
 * SAMPLE_HEAD bytes are compared and the rest is counted, not copied. */
#define VERIFY_ALL_MAX (64 * 1024)
#define SAMPLE_HEAD (16 * 1024)

/* RFC 6455 §1.3: the sample nonce and its accept value. A fixed key is
 * allowed for a benchmark client: the server cannot tell, and §4.1 only asks
 * that it be random for the client's own protection. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

struct conn {
  int fd;
  uint8_t state, role, dirty, want_out;
  /* Output: out_frames whole copies of the frame template are pending; the
   * first one is batch frame out_idx, of which out_off bytes are written. */
  uint64_t out_frames;
  size_t out_off, out_idx;
  uint8_t *ctrl; /* control frames (pongs) queued between data frames */
  uint32_t ctrl_len, ctrl_off, ctrl_cap;
  size_t req_off;
  char *hbuf;
  uint32_t hlen;
  /* Frame parser. */
  uint8_t ps, hdr_len, hdr_need, op, fin, msg_op, in_msg, ctl_len;
  uint8_t hdr[14];
  uint8_t ctl[125];
  uint64_t remaining, msg_off;
  uint64_t received;
};

/* Options. */
static int mode = M_ECHO, proto = P_WS, binary = 0, sampled = 0, verify_all = 0;
static const char *host = "127.0.0.1", *path = "/";
static int port = 0;
static long conns = 100, inflight = 16, concurrency = 100, count = 0;
static size_t size = 64;
static double duration = 5, warmup = 1, connect_timeout = 30, hold = 300;

/* State. */
static int ep;
static struct conn *cs;
static long ncs;
static struct conn **dirty;
static long ndirty;
static uint8_t *payload, *batch;
static size_t flen, batch_frames;
static char reqbuf[1024];
static size_t reqlen;
static uint8_t rbuf[RBUF_SIZE];
static struct sockaddr_in addr;
static int phase = PH_SETUP;
static volatile sig_atomic_t stop_signal;

static long to_open, in_progress, opened, open_failures, closed_unexpected;
static long errors;
static char first_error[256];
static uint64_t measured, bytes_in, bytes_out;
static uint64_t published, completed;
static uint32_t fan_hist[FANOUT_WINDOW];
static long subs_open, hs_started;
static double t_start, t_phase, t_measure, t_end, cpu_measure, cpu_end;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void) {
  /* xorshift64*: mask keys only need to vary, not to be secret here. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec * 1e-6;
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

static void fatal(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("{\"ok\":false,\"error\":");
  json_str(msg);
  printf(",\"first_error\":");
  json_str(first_error);
  printf("}\n");
  fflush(stdout);
  exit(1);
}

static void note_error(const char *fmt, ...) {
  errors++;
  if (first_error[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(first_error, sizeof first_error, fmt, ap);
  va_end(ap);
}

static const char *mode_name(void) {
  static const char *n[] = {"echo", "handshake", "fanout", "idle"};
  return n[mode];
}

/* ---- frame templates ---------------------------------------------------- */

static size_t ws_header(uint8_t *h, int opcode, size_t len, uint32_t key) {
  size_t i = 0;
  h[i++] = 0x80 | opcode; /* FIN, no RSV bits: no extension is negotiated */
  /* RFC 6455 §5.2: the minimal number of bytes MUST be used for the length. */
  if (len < 126) {
    h[i++] = 0x80 | len;
  } else if (len < 65536) {
    h[i++] = 0x80 | 126;
    h[i++] = len >> 8;
    h[i++] = len;
  } else {
    h[i++] = 0x80 | 127;
    for (int s = 56; s >= 0; s -= 8) h[i++] = (uint64_t)len >> s;
  }
  /* RFC 6455 §5.3: a client MUST mask every frame it sends. */
  memcpy(h + i, &key, 4);
  return i + 4;
}

static void ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key) {
  for (size_t j = 0; j < len; j++) dst[j] = src[j] ^ key[j & 3];
}

static void build_templates(void) {
  payload = malloc(size ? size : 1);
  for (size_t i = 0; i < size; i++)
    payload[i] = binary ? (uint8_t)(rng() >> 24) : (uint8_t)('a' + i % 26);
  uint8_t h[14];
  flen = (proto == P_WS ? ws_header(h, 1, size, 0) : 4) + size;
  /* Enough copies for every message a connection can have in flight, so a
   * burst of replies is answered with one write. */
  batch_frames = inflight > 0 ? (size_t)inflight : 1;
  if (mode == M_HANDSHAKE || mode == M_IDLE) batch_frames = 1;
  batch = malloc(flen * batch_frames);
  for (size_t f = 0; f < batch_frames; f++) {
    uint8_t *p = batch + f * flen;
    if (proto == P_WS) {
      uint32_t key = rng();
      size_t n = ws_header(p, binary ? 2 : 1, size, key);
      ws_mask(p + n, payload, size, p + n - 4);
    } else {
      p[0] = size >> 24;
      p[1] = size >> 16;
      p[2] = size >> 8;
      p[3] = size;
      memcpy(p + 4, payload, size);
    }
  }
  reqlen = snprintf(reqbuf, sizeof reqbuf,
                    "GET %s HTTP/1.1\r\n"
                    "Host: %s:%d\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Key: " WS_KEY "\r\n"
                    "Sec-WebSocket-Version: 13\r\n"
                    "\r\n",
                    path, host, port);
}

/* ---- connections -------------------------------------------------------- */

static void ep_mod(struct conn *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) note_error("epoll_ctl: %s", strerror(errno));
}

static void mark_dirty(struct conn *c) {
  if (!c->dirty) {
    c->dirty = 1;
    dirty[ndirty++] = c;
  }
}

static void conn_reset(struct conn *c) {
  free(c->hbuf);
  free(c->ctrl);
  uint8_t role = c->role;
  memset(c, 0, sizeof *c);
  c->role = role;
  c->fd = -1;
}

static void conn_close(struct conn *c, int rst) {
  if (c->fd < 0) return;
  if (rst) {
    /* Reset instead of FIN: no TIME_WAIT, so a long handshake run cannot
     * exhaust the ephemeral ports. */
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(c->fd);
  uint8_t was_dirty = c->dirty;
  conn_reset(c);
  c->dirty = was_dirty; /* still in the dirty list; flush skips fd < 0 */
}

static void conn_failed(struct conn *c, const char *what) {
  if (c->state == C_OPEN) {
    closed_unexpected++;
    note_error("connection closed: %s", what);
  } else {
    open_failures++;
    in_progress--;
    note_error("connect/upgrade failed: %s", what);
  }
  if (c->role == R_SUB && c->state == C_OPEN) subs_open--;
  conn_close(c, 1);
}

static void start_connect(struct conn *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    open_failures++;
    note_error("socket: %s", strerror(errno));
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->state = C_CONNECTING;
  in_progress++;
  if (c->role == R_HS) hs_started++;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    conn_failed(c, strerror(errno));
    return;
  }
  /* On loopback the TCP handshake has usually completed by now: send the
   * Upgrade request at once and skip a wake-up. EAGAIN means "not yet". */
  uint32_t events = EPOLLOUT;
  if (proto == P_WS) {
    ssize_t w = write(fd, reqbuf, reqlen);
    if (w > 0) {
      c->req_off = w;
      c->state = w == (ssize_t)reqlen ? C_UPGRADING : C_SENDREQ;
      if (c->state == C_UPGRADING) events = EPOLLIN;
    } else if (errno != EAGAIN && errno != ENOTCONN) {
      conn_failed(c, strerror(errno)); /* e.g. refused: the write reports it */
      return;
    }
  }
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) fatal("epoll_ctl add: %s", strerror(errno));
}

static int flush(struct conn *c);

static void queue_frames(struct conn *c, uint64_t n) {
  c->out_frames += n;
  mark_dirty(c);
}

static void fanout_pump(void);

static void on_open(struct conn *c) {
  c->state = C_OPEN;
  in_progress--;
  opened++;
  switch (c->role) {
    case R_ECHO:
      queue_frames(c, inflight);
      break;
    case R_SUB:
      subs_open++;
      break;
    case R_PUB:
      break;
    case R_HS:
      if (phase == PH_MEASURE) measured++;
      conn_close(c, 1);
      break;
    case R_IDLE:
      break;
  }
}

static void queue_ctrl(struct conn *c, int opcode, const uint8_t *data, size_t len) {
  if (proto != P_WS) return;
  size_t need = c->ctrl_len + 6 + len;
  if (need > c->ctrl_cap) {
    c->ctrl_cap = need * 2;
    c->ctrl = realloc(c->ctrl, c->ctrl_cap);
  }
  uint8_t *p = c->ctrl + c->ctrl_len;
  size_t n = ws_header(p, opcode, len, rng());
  ws_mask(p + n, data, len, p + n - 4);
  c->ctrl_len += n + len;
  mark_dirty(c);
}

static void on_message(struct conn *c, int op, uint64_t len) {
  int want_op = binary ? 2 : 1;
  if (proto == P_WS && op != want_op) note_error("reply opcode %d, expected %d", op, want_op);
  if (len != size) note_error("reply of %llu bytes, expected %zu", (unsigned long long)len, size);
  switch (c->role) {
    case R_ECHO:
      if (phase == PH_MEASURE) measured++;
      queue_frames(c, 1);
      break;
    case R_SUB: {
      if (phase == PH_MEASURE) measured++;
      c->received++;
      fan_hist[c->received % FANOUT_WINDOW]++;
      break;
    }
    case R_PUB: /* its own copy of the broadcast; read and dropped */
      c->received++;
      break;
    default:
      note_error("unexpected message in %s mode", mode_name());
  }
}

static int frame_done(struct conn *c) {
  c->ps = PS_HEADER;
  if (c->op & 0x08) {
    if (c->op == 0x9) queue_ctrl(c, 0xA, c->ctl, c->ctl_len); /* §5.5.2: answer a ping */
    else if (c->op == 0x8) {
      note_error("server sent a close frame");
      return -1;
    }
  } else if (c->fin) {
    c->in_msg = 0;
    on_message(c, c->msg_op, c->msg_off);
  }
  return 0;
}

/* Parse server bytes. Returns -1 when the connection must be dropped. */
static int feed(struct conn *c, const uint8_t *p, size_t n) {
  while (n > 0) {
    if (c->ps == PS_HEADER) {
      if (c->hdr_need == 0) c->hdr_need = proto == P_WS ? 2 : 4;
      while (n > 0 && c->hdr_len < c->hdr_need) {
        c->hdr[c->hdr_len++] = *p++;
        n--;
        if (proto == P_WS && c->hdr_len == 2) {
          uint8_t l7 = c->hdr[1] & 0x7f;
          c->hdr_need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
        }
      }
      if (c->hdr_len < c->hdr_need) return 0;
      uint64_t len = 0;
      if (proto == P_RAW) {
        len = ((uint32_t)c->hdr[0] << 24) | ((uint32_t)c->hdr[1] << 16) | ((uint32_t)c->hdr[2] << 8) | c->hdr[3];
        c->op = 2;
        c->fin = 1;
        c->msg_off = 0;
        c->in_msg = 1;
        c->msg_op = 2;
      } else {
        uint8_t b0 = c->hdr[0], b1 = c->hdr[1];
        /* RFC 6455 §5.1: a server MUST NOT mask frames it sends. */
        if (b1 & 0x80) { note_error("masked frame from server"); return -1; }
        /* §5.2: RSV bits MUST be 0 unless an extension was negotiated. */
        if (b0 & 0x70) { note_error("RSV bits set without extension"); return -1; }
        uint8_t l7 = b1 & 0x7f;
        if (l7 < 126) len = l7;
        else if (l7 == 126) len = ((uint64_t)c->hdr[2] << 8) | c->hdr[3];
        else for (int i = 2; i < 10; i++) len = (len << 8) | c->hdr[i];
        c->fin = b0 >> 7;
        c->op = b0 & 0x0f;
        if (c->op & 0x08) {
          /* §5.5: control frames are unfragmented and carry <= 125 bytes. */
          if (!c->fin || len > 125) { note_error("bad control frame"); return -1; }
          c->ctl_len = 0;
        } else if (c->op == 0) {
          if (!c->in_msg) { note_error("continuation without a message"); return -1; }
        } else {
          if (c->in_msg) { note_error("new message inside a fragmented one"); return -1; }
          c->in_msg = 1;
          c->msg_op = c->op;
          c->msg_off = 0;
        }
      }
      c->remaining = len;
      c->ps = PS_PAYLOAD;
      c->hdr_len = 0;
      c->hdr_need = 0;
    }
    /* PS_PAYLOAD */
    size_t m = n < c->remaining ? n : (size_t)c->remaining;
    if (m > 0) {
      if (c->op & 0x08) {
        memcpy(c->ctl + c->ctl_len, p, m);
        c->ctl_len += m;
      } else {
        if (c->msg_off + m > size || memcmp(payload + c->msg_off, p, m) != 0)
          note_error("reply payload differs from what was sent");
        c->msg_off += m;
      }
      p += m;
      n -= m;
      c->remaining -= m;
    }
    if (c->remaining == 0 && frame_done(c) < 0) return -1;
  }
  return 0;
}

static void on_upgrade_bytes(struct conn *c, const uint8_t *p, size_t n) {
  if (!c->hbuf) c->hbuf = malloc(HBUF_MAX + 1);
  size_t room = HBUF_MAX - c->hlen;
  size_t take = n < room ? n : room;
  memcpy(c->hbuf + c->hlen, p, take);
  size_t old = c->hlen;
  c->hlen += take;
  c->hbuf[c->hlen] = 0;
  char *end = strstr(c->hbuf, "\r\n\r\n");
  if (!end) {
    if (c->hlen >= HBUF_MAX) conn_failed(c, "upgrade response too long");
    return;
  }
  size_t head = end + 4 - c->hbuf;
  if (strncmp(c->hbuf, "HTTP/1.1 101", 12) != 0) {
    char line[128];
    size_t l = strcspn(c->hbuf, "\r\n");
    snprintf(line, sizeof line, "expected 101, got: %.*s", (int)(l < 100 ? l : 100), c->hbuf);
    conn_failed(c, line);
    return;
  }
  /* RFC 6455 §4.1: the client checks the accept value. */
  *end = 0;
  if (!strstr(c->hbuf, WS_ACCEPT)) {
    conn_failed(c, "wrong Sec-WebSocket-Accept");
    return;
  }
  free(c->hbuf);
  c->hbuf = NULL;
  c->hlen = 0;
  on_open(c);
  if (c->fd < 0) return;
  size_t rest = (old + n) - head; /* bytes after the response head in this read */
  if (rest > 0 && feed(c, p + (n - rest), rest) < 0) conn_failed(c, "bad frame");
}

static void send_request(struct conn *c) {
  while (c->req_off < reqlen) {
    ssize_t w = write(c->fd, reqbuf + c->req_off, reqlen - c->req_off);
    if (w < 0) {
      if (errno == EAGAIN) return; /* EPOLLOUT is still armed */
      if (errno == EINTR) continue;
      conn_failed(c, strerror(errno));
      return;
    }
    c->req_off += w;
  }
  c->state = C_UPGRADING;
  ep_mod(c, EPOLLIN);
}

static void on_connected(struct conn *c) {
  int err = 0;
  socklen_t el = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
  if (err) {
    conn_failed(c, strerror(err));
    return;
  }
  if (proto == P_RAW) {
    ep_mod(c, EPOLLIN);
    on_open(c);
    return;
  }
  c->state = C_SENDREQ;
  send_request(c);
}

static int flush(struct conn *c) {
  for (;;) {
    if (c->ctrl_off < c->ctrl_len && c->out_off == 0) {
      ssize_t w = write(c->fd, c->ctrl + c->ctrl_off, c->ctrl_len - c->ctrl_off);
      if (w < 0) goto err;
      bytes_out += w;
      c->ctrl_off += w;
      if (c->ctrl_off == c->ctrl_len) c->ctrl_off = c->ctrl_len = 0;
      continue;
    }
    if (c->out_frames == 0) break;
    size_t len;
    if (c->ctrl_len) {
      len = flen - c->out_off; /* finish this frame; the control frame goes next */
    } else {
      uint64_t nf = batch_frames - c->out_idx;
      if (c->out_frames < nf) nf = c->out_frames;
      len = nf * flen - c->out_off;
    }
    ssize_t w = write(c->fd, batch + c->out_idx * flen + c->out_off, len);
    if (w < 0) goto err;
    bytes_out += w;
    size_t t = c->out_off + w;
    c->out_frames -= t / flen;
    c->out_idx = (c->out_idx + t / flen) % batch_frames;
    c->out_off = t % flen;
  }
  if (c->want_out) {
    c->want_out = 0;
    ep_mod(c, EPOLLIN);
  }
  return 0;
err:
  if (errno == EAGAIN) {
    if (!c->want_out) {
      c->want_out = 1;
      ep_mod(c, EPOLLIN | EPOLLOUT);
    }
    return 0;
  }
  if (errno == EINTR) return flush(c);
  conn_failed(c, strerror(errno));
  return -1;
}

static void on_event(struct conn *c, uint32_t ev) {
  if (c->fd < 0) return; /* closed earlier in this batch */
  if (c->state == C_CONNECTING) {
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
    return;
  }
  if (c->state == C_SENDREQ) {
    send_request(c);
    return;
  }
  if (ev & EPOLLOUT) {
    if (flush(c) < 0) return;
  }
  if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    if (sampled && c->state == C_OPEN && c->ps == PS_PAYLOAD && !(c->op & 0x08) && c->msg_off >= SAMPLE_HEAD) {
      /* Past the checked head of a large message: let the kernel drop the
       * rest without copying it (TCP honours MSG_TRUNC on receive). */
      size_t want = c->remaining < (1u << 30) ? (size_t)c->remaining : (1u << 30);
      ssize_t r = recv(c->fd, NULL, want, MSG_TRUNC | MSG_DONTWAIT);
      if (r > 0) {
        bytes_in += r;
        c->msg_off += r;
        c->remaining -= r;
        if (c->remaining == 0 && frame_done(c) < 0) conn_failed(c, "bad frame");
        return;
      }
      if (r == 0) {
        conn_failed(c, "closed by server");
        return;
      }
      if (errno == EAGAIN || errno == EINTR) return;
      conn_failed(c, strerror(errno));
      return;
    }
    /* Large messages: read little at a time so that only the head is copied. */
    ssize_t r = read(c->fd, rbuf, sampled && c->state == C_OPEN ? SAMPLE_HEAD : sizeof rbuf);
    if (r == 0) {
      conn_failed(c, "closed by server");
      return;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      conn_failed(c, strerror(errno));
      return;
    }
    bytes_in += r;
    if (c->state == C_UPGRADING) on_upgrade_bytes(c, rbuf, r);
    else if (feed(c, rbuf, r) < 0) conn_failed(c, "bad frame");
  }
}

/* ---- scenario pumps ----------------------------------------------------- */

static void open_more(void) {
  long limit = mode == M_ECHO ? conns : concurrency;
  if (mode == M_HANDSHAKE) {
    if (phase == PH_DONE) return;
    for (long i = 0; i < ncs && in_progress < limit; i++)
      if (cs[i].fd < 0) start_connect(&cs[i]);
    return;
  }
  while (to_open > 0 && in_progress < limit) {
    struct conn *c = &cs[ncs - to_open];
    if (c->role == R_PUB && subs_open + open_failures < conns) break; /* publisher last */
    to_open--;
    start_connect(c);
  }
}

static void fanout_pump(void) {
  struct conn *pub = &cs[ncs - 1];
  if (pub->fd < 0 || pub->state != C_OPEN) return;
  while (completed < published && fan_hist[(completed + 1) % FANOUT_WINDOW] >= (uint32_t)subs_open) {
    fan_hist[(completed + 1) % FANOUT_WINDOW] = 0;
    completed++;
  }
  if (phase != PH_WARMUP && phase != PH_MEASURE) return;
  if (published - completed < (uint64_t)inflight) {
    uint64_t n = inflight - (published - completed);
    published += n;
    queue_frames(pub, n);
  }
}

/* The harness samples the server's CPU time when this line appears. */
static void start_measure(double t) {
  phase = PH_MEASURE;
  measured = 0;
  bytes_in = bytes_out = 0;
  t_measure = t;
  cpu_measure = cpu_now();
  printf("{\"event\":\"measure\"}\n");
  fflush(stdout);
}

static void on_signal(int sig) {
  (void)sig;
  stop_signal = 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode echo|handshake|fanout|idle --port N [--host 127.0.0.1]\n"
          "  [--proto ws|raw] [--path /] [--conns N] [--inflight K] [--size BYTES] [--binary] [--verify-all]\n"
          "  [--duration S] [--warmup S] [--concurrency C] [--count N] [--connect-timeout S] [--hold S]\n");
  exit(2);
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
    if (strcmp(a, "--binary") == 0) binary = 1;
    else if (strcmp(a, "--verify-all") == 0) verify_all = 1;
    else if (OPT("--mode")) {
      if (!strcmp(v, "echo")) mode = M_ECHO;
      else if (!strcmp(v, "handshake")) mode = M_HANDSHAKE;
      else if (!strcmp(v, "fanout")) mode = M_FANOUT;
      else if (!strcmp(v, "idle")) mode = M_IDLE;
      else usage();
    } else if (OPT("--proto")) {
      if (!strcmp(v, "ws")) proto = P_WS;
      else if (!strcmp(v, "raw")) proto = P_RAW;
      else usage();
    } else if (OPT("--host")) host = v;
    else if (OPT("--port")) port = atoi(v);
    else if (OPT("--path")) path = v;
    else if (OPT("--conns")) conns = atol(v);
    else if (OPT("--inflight")) inflight = atol(v);
    else if (OPT("--size")) size = strtoull(v, NULL, 10);
    else if (OPT("--duration")) duration = atof(v);
    else if (OPT("--warmup")) warmup = atof(v);
    else if (OPT("--concurrency")) concurrency = atol(v);
    else if (OPT("--count")) count = atol(v);
    else if (OPT("--connect-timeout")) connect_timeout = atof(v);
    else if (OPT("--hold")) hold = atof(v);
    else usage();
#undef OPT
  }
  if (port <= 0 || port > 65535 || conns < 1 || inflight < 1 || concurrency < 1) usage();
  if (mode == M_HANDSHAKE && proto != P_WS) usage();
  if (inflight >= FANOUT_WINDOW) usage();

  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  raise_nofile();

  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) fatal("host must be an IPv4 address: %s", host);

  sampled = size > VERIFY_ALL_MAX && !verify_all;
  build_templates();
  ep = epoll_create1(EPOLL_CLOEXEC);

  switch (mode) {
    case M_ECHO: ncs = conns; break;
    case M_HANDSHAKE: ncs = concurrency; break;
    case M_FANOUT: ncs = conns + 1; break;
    case M_IDLE: ncs = conns; break;
  }
  cs = calloc(ncs, sizeof *cs);
  dirty = calloc(ncs, sizeof *dirty);
  for (long i = 0; i < ncs; i++) {
    cs[i].fd = -1;
    cs[i].role = mode == M_ECHO ? R_ECHO : mode == M_HANDSHAKE ? R_HS : mode == M_IDLE ? R_IDLE : R_SUB;
  }
  if (mode == M_FANOUT) cs[ncs - 1].role = R_PUB;
  to_open = mode == M_HANDSHAKE ? 0 : ncs;

  struct conn stdin_marker;
  if (mode == M_IDLE) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_marker};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  }

  struct epoll_event evs[MAX_EVENTS];
  t_start = t_phase = now();
  if (mode == M_HANDSHAKE) {
    if (warmup > 0) phase = PH_WARMUP;
    else start_measure(t_start);
  }
  int interrupted = 0;
  for (;;) {
    double t = now();
    if (stop_signal) {
      interrupted = 1;
      break;
    }
    /* Phase changes. */
    if (phase == PH_SETUP) {
      int ready = to_open == 0 && in_progress == 0;
      if (ready && opened == 0) fatal("no connection could be opened");
      if (ready && mode == M_IDLE) {
        phase = PH_HOLD;
        t_phase = t;
        printf("{\"event\":\"ready\",\"open\":%ld,\"failed\":%ld,\"setup_s\":%.3f}\n", opened, open_failures, t - t_start);
        fflush(stdout);
      } else if (ready && mode == M_FANOUT && cs[ncs - 1].state != C_OPEN) {
        fatal("publisher could not connect");
      } else if (ready) {
        phase = warmup > 0 ? PH_WARMUP : PH_MEASURE;
        t_phase = t;
        if (phase == PH_MEASURE) start_measure(t);
      } else if (t - t_start > connect_timeout) {
        fatal("setup timed out after %.0f s: %ld of %ld open", connect_timeout, opened, ncs);
      }
    }
    if (phase == PH_WARMUP && t - t_phase >= warmup) {
      start_measure(t);
    }
    if (phase == PH_MEASURE) {
      int done = t - t_measure >= duration;
      if (mode == M_HANDSHAKE && count > 0 && measured >= (uint64_t)count) done = 1;
      if (done) {
        t_end = t;
        cpu_end = cpu_now();
        phase = PH_DONE;
        break;
      }
    }
    if (phase == PH_HOLD && t - t_phase >= hold) break;

    if (mode == M_FANOUT) fanout_pump();
    for (long i = 0; i < ndirty; i++) {
      struct conn *c = dirty[i];
      c->dirty = 0;
      if (c->fd >= 0 && c->state == C_OPEN) flush(c);
    }
    ndirty = 0;
    open_more();

    int timeout = 50;
    int n = epoll_wait(ep, evs, MAX_EVENTS, ndirty ? 0 : timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal("epoll_wait: %s", strerror(errno));
    }
    int stdin_said = 0;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == &stdin_marker) {
        stdin_said = 1;
        continue;
      }
      on_event(evs[i].data.ptr, evs[i].events);
    }
    if (stdin_said && phase == PH_HOLD) break;
  }

  if (phase != PH_DONE) {
    t_end = now();
    cpu_end = cpu_now();
    if (phase == PH_HOLD) t_measure = t_phase, cpu_measure = 0;
  }
  double wall = t_end - t_measure;
  double cpu = cpu_end - cpu_measure;
  printf("{\"ok\":%s,\"mode\":\"%s\",\"proto\":\"%s\",\"path\":", interrupted ? "false" : "true", mode_name(),
         proto == P_WS ? "ws" : "raw");
  json_str(path);
  printf(",\"conns\":%ld,\"inflight\":%ld,\"size\":%zu,\"binary\":%s,\"concurrency\":%ld", conns, inflight, size,
         binary ? "true" : "false", concurrency);
  printf(",\"wall_s\":%.6f,\"count\":%llu,\"rate\":%.3f", wall, (unsigned long long)measured,
         wall > 0 ? measured / wall : 0.0);
  printf(",\"bytes_in\":%llu,\"bytes_out\":%llu", (unsigned long long)bytes_in, (unsigned long long)bytes_out);
  printf(",\"cpu_s\":%.6f,\"idle_share\":%.4f", cpu, wall > 0 ? 1 - cpu / wall : 0.0);
  printf(",\"opened\":%ld,\"open_failures\":%ld,\"closed\":%ld,\"errors\":%ld", opened, open_failures,
         closed_unexpected, errors);
  if (mode == M_FANOUT) printf(",\"subscribers\":%ld,\"published\":%llu,\"completed\":%llu", subs_open,
                               (unsigned long long)published, (unsigned long long)completed);
  if (mode == M_HANDSHAKE) printf(",\"started\":%ld", hs_started);
  if (interrupted) printf(",\"error\":\"interrupted\"");
  printf(",\"first_error\":");
  json_str(first_error);
  printf("}\n");
  fflush(stdout);
  return interrupted ? 1 : 0;
}
