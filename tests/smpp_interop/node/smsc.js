#!/usr/bin/env node
// A small SMSC on node-smpp (an independent SMPP implementation) for smsgate's interop tests
// and benchmark. It takes binds, answers submit_sm, reassembles concatenated messages, sends
// delivery receipts and injects incoming (MO) messages.
//
// Options (all optional):
//   --port N               listen here (0: any free port; the chosen one is printed)
//   --system-id ID         the system_id to accept (default smsgate)
//   --password PW          the password to accept (default secret)
//   --resp-delay MS        answer each submit_sm this late (so the ESME's window fills up)
//   --receipt-delay MS     send the receipt this long after the submit_sm_resp
//   --throttle-percent P   answer P% of submit_sm with ESME_RTHROTTLED
//   --receipts-before-resp send each receipt before the submit_sm_resp of its message
//   --receipt-text-only    receipts without the receipted_message_id/message_state TLVs
//   --id-format hex|decimal  message ids (default decimal)
//   --journal FILE         remember owed receipts in FILE, and deliver them after a restart
//   --tls-cert F --tls-key F  serve TLS with this certificate
//   --quiet                no "message" events (for the benchmark)
//   --resp-status N --resp-body HEX  answer each submit_sm with this command_status and these raw
//                          body octets (a malformed resp), taking no message
//   --resp-command-id N    the command_id of those raw answers (default submit_sm_resp)
//   --enquire-status N     answer enquire_link with this command_status
//   --throttle-suffix S    answer ESME_RTHROTTLED to every submit_sm to a number ending in S
//   --tps N                take at most N submit_sm a second (a burst of a tenth of that), and
//                          answer ESME_RTHROTTLED to the rest, as an operator's SMSC does
//   --silent-suffix S      never answer a submit_sm to a number ending in S
//   --throttle-once        answer ESME_RTHROTTLED to the first submit_sm to each number
//   --silent               answer nothing at all (a link gone dead); set per connection's PDU
//   --drop-after-bind      grant each bind, then close its connection (too many binds, say)
//
// Output, one JSON object a line: {"event":"listening","port":N}, {"event":"bound",...},
// {"event":"bind_refused",...}, {"event":"message",...} (a whole message: text joined from its
// parts), {"event":"mo_done",...}, {"event":"stats",...}.
// Input, one JSON object a line: {"op":"stats"}; {"op":"set","throttle_percent":P} (any option
// that is read per PDU: throttle_percent, resp_delay, receipt_delay, resp_status, resp_body,
// enquire_status, throttle_suffix, silent_suffix, silent);
// {"op":"mo","id":..,"source":..,
// "destination":..,"text":..,"coding":"gsm"|"ucs2"|"binary","part_size":N,"reverse":bool};
// {"op":"raw","hex":".."} (bytes written as they are to a bound session); {"op":"unbind"}.
'use strict';

const fs = require('fs');
const readline = require('readline');
const smpp = require('smpp');

function parseArgs(argv) {
  const options = {
    port: 0,
    system_id: 'smsgate',
    password: 'secret',
    resp_delay: 0,
    receipt_delay: 0,
    throttle_percent: 0,
    receipts_before_resp: false,
    receipt_text_only: false,
    id_format: 'decimal',
    journal: null,
    tls_cert: null,
    tls_key: null,
    quiet: false,
    resp_status: 0,
    resp_body: null,
    resp_command_id: 0x80000004,
    enquire_status: 0,
    throttle_suffix: null,
    tps: 0,
    silent_suffix: null,
    silent: false,
    throttle_once: false,
    drop_after_bind: false,
  };
  const flags = new Set(['receipts_before_resp', 'receipt_text_only', 'quiet', 'silent', 'throttle_once',
    'drop_after_bind']);
  const numbers = new Set(['port', 'resp_delay', 'receipt_delay', 'throttle_percent', 'resp_status',
    'resp_command_id', 'enquire_status', 'tps']);
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '').replace(/-/g, '_');
    if (!(name in options)) throw new Error('unknown option ' + argv[i]);
    if (flags.has(name)) {
      options[name] = true;
    } else {
      const value = argv[++i];
      options[name] = numbers.has(name) ? Number(value) : value;
    }
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));

function emit(event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event: event }, fields)) + '\n');
}

const stats = {
  connections: 0,
  binds: 0,
  bind_refused: 0,
  submitted: 0,
  accepted: 0,
  throttled: 0,
  unanswered: 0,
  in_flight: 0,
  max_in_flight: 0,
  receipts_sent: 0,
  receipts_acked: 0,
  receipts_refused: 0,
  max_receipt_wait_ms: 0, // the longest a receipt waited for its deliver_sm_resp
  messages: 0,
  unbinds: 0,
  enquire_links: 0,
  raw_answers: [],
  raw_resps: 0,
};

// Owed receipts: {id, source, destination}, delivered to any session that can receive.
const owed = [];
let nextId = 1;
const receivers = new Set();
const submitters = new Set();

function journalWrite(line) {
  if (options.journal) fs.appendFileSync(options.journal, line + '\n');
}

function recoverJournal() {
  if (!options.journal || !fs.existsSync(options.journal)) return;
  const taken = new Map();
  for (const line of fs.readFileSync(options.journal, 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields[0] === '+') {
      taken.set(fields[1], { id: fields[1], destination: fields[2], source: fields[3] });
      nextId = Math.max(nextId, Number.parseInt(fields[1], options.id_format === 'hex' ? 16 : 10) + 1);
    } else if (fields[0] === '-') {
      taken.delete(fields[1]);
    }
  }
  owed.push(...taken.values());
}

function newMessageId() {
  const id = nextId++;
  return options.id_format === 'hex' ? id.toString(16).toUpperCase() : String(id);
}

function smppDate(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return pad(date.getUTCFullYear() % 100) + pad(date.getUTCMonth() + 1) + pad(date.getUTCDate()) +
    pad(date.getUTCHours()) + pad(date.getUTCMinutes()) + pad(date.getUTCSeconds());
}

function pickReceiver() {
  for (const session of receivers) {
    if (!session.socket.destroyed) return session;
  }
  return null;
}

let deliveringScheduled = false;
function deliverOwed() {
  deliveringScheduled = false;
  while (owed.length) {
    const session = pickReceiver();
    if (!session) return; // delivered when a receiver binds
    if (!sendReceipt(session, owed.shift())) {
      // The session is closing: try again shortly (looping here would block this process).
      setTimeout(scheduleDelivery, 50);
      return;
    }
  }
}

function scheduleDelivery() {
  if (!deliveringScheduled) {
    deliveringScheduled = true;
    setImmediate(deliverOwed);
  }
}

function sendReceipt(session, receipt) {
  const now = smppDate(new Date());
  const text = 'id:' + receipt.id + ' sub:001 dlvrd:001 submit date:' + now + ' done date:' + now +
    ' stat:DELIVRD err:000 text:';
  const fields = {
    source_addr: receipt.destination,
    destination_addr: receipt.source,
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    data_coding: 0,
    short_message: Buffer.from(text, 'ascii'),
  };
  if (!options.receipt_text_only) {
    fields.receipted_message_id = receipt.id;
    fields.message_state = 2; // DELIVERED
  }
  stats.receipts_sent++;
  session.receipts.add(receipt);
  const sentAt = Date.now();
  const sent = session.deliver_sm(fields, (resp) => {
    stats.max_receipt_wait_ms = Math.max(stats.max_receipt_wait_ms, Date.now() - sentAt);
    session.receipts.delete(receipt);
    if (resp.command_status === 0) {
      stats.receipts_acked++;
      journalWrite('- ' + receipt.id);
    } else {
      // Not taken: offered again a little later, as an SMSC does.
      stats.receipts_refused++;
      setTimeout(() => { owed.push(receipt); scheduleDelivery(); }, 200);
    }
  });
  if (!sent) {
    session.receipts.delete(receipt);
    owed.unshift(receipt);
  }
  return sent;
}

function dueReceipt(receipt, delay) {
  if (delay > 0) {
    setTimeout(() => { owed.push(receipt); scheduleDelivery(); }, delay);
  } else {
    owed.push(receipt);
    scheduleDelivery();
  }
}

// --- reassembly of concatenated submits -------------------------------------------------------

const pending = new Map();

function concatOf(pdu, message) {
  for (const element of message.udh || []) {
    if (element[0] === 0x00 && element[1] === 3) {
      return { ref: element[2], total: element[3], seq: element[4] };
    }
    if (element[0] === 0x08 && element[1] === 4) {
      return { ref: (element[2] << 8) | element[3], total: element[4], seq: element[5] };
    }
  }
  if (pdu.sar_msg_ref_num !== undefined) {
    return { ref: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum };
  }
  return { ref: 0, total: 1, seq: 1 };
}

function reassemble(pdu) {
  const message = pdu.short_message || {};
  const text = typeof message.message === 'string' ? message.message : '';
  const concat = concatOf(pdu, message);
  const key = [pdu.source_addr, pdu.destination_addr, concat.ref, concat.total].join('|');
  let parts = pending.get(key);
  if (!parts) {
    parts = new Map();
    pending.set(key, parts);
  }
  parts.set(concat.seq, { text: text, data_coding: pdu.data_coding });
  if (parts.size < concat.total) return;
  pending.delete(key);
  stats.messages++;
  if (options.quiet) return;
  const ordered = [...parts.keys()].sort((a, b) => a - b).map((seq) => parts.get(seq));
  emit('message', {
    source: pdu.source_addr,
    source_ton: pdu.source_addr_ton,
    source_npi: pdu.source_addr_npi,
    destination: pdu.destination_addr,
    dest_ton: pdu.dest_addr_ton,
    dest_npi: pdu.dest_addr_npi,
    parts: concat.total,
    data_coding: ordered[0].data_coding,
    registered_delivery: pdu.registered_delivery,
    validity_period: pdu.validity_period instanceof Date ? pdu.validity_period.toISOString() : pdu.validity_period,
    text: ordered.map((part) => part.text).join(''),
  });
}

// --- sessions ---------------------------------------------------------------------------------

// Numbers refused once (--throttle-once).
const throttledOnce = new Set();

function firstSubmitTo(number) {
  if (!options.throttle_once || throttledOnce.has(number)) return false;
  throttledOnce.add(number);
  return true;
}

// The SMSC's own rate (--tps): a token bucket holding a tenth of a second's worth.
const bucket = { tokens: null, at: 0 };

function overRate() {
  if (!options.tps) return false;
  const now = Date.now() / 1000;
  const burst = Math.max(1, options.tps / 10);
  bucket.tokens = bucket.tokens === null ? burst : Math.min(burst, bucket.tokens + (now - bucket.at) * options.tps);
  bucket.at = now;
  if (bucket.tokens < 1) return true;
  bucket.tokens -= 1;
  return false;
}

function onSubmit(session, pdu) {
  if (options.silent || (options.silent_suffix && pdu.destination_addr.endsWith(options.silent_suffix))) {
    stats.submitted++;
    stats.unanswered++;
    return;
  }
  stats.in_flight++;
  session.in_flight++;
  stats.max_in_flight = Math.max(stats.max_in_flight, session.in_flight);
  const answer = () => {
    stats.in_flight--;
    session.in_flight--;
    if (options.resp_body !== null) {
      stats.raw_resps++;
      const body = Buffer.from(options.resp_body, 'hex');
      const header = Buffer.alloc(16);
      header.writeUInt32BE(16 + body.length, 0);
      header.writeUInt32BE(options.resp_command_id >>> 0, 4);
      header.writeUInt32BE(options.resp_status >>> 0, 8);
      header.writeUInt32BE(pdu.sequence_number, 12);
      session.socket.write(Buffer.concat([header, body]));
      return;
    }
    const stalled = options.throttle_suffix && pdu.destination_addr.endsWith(options.throttle_suffix);
    const refused = firstSubmitTo(pdu.destination_addr) || Math.random() * 100 < options.throttle_percent;
    if (stalled || refused || overRate()) {
      stats.throttled++;
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    stats.accepted++;
    reassemble(pdu);
    const receipt = { id: newMessageId(), source: pdu.source_addr, destination: pdu.destination_addr };
    journalWrite('+ ' + receipt.id + ' ' + receipt.destination + ' ' + receipt.source);
    if (options.receipts_before_resp) {
      // The receipt leaves first on this very connection: it overtakes the resp.
      sendReceipt(session.receiver ? session : pickReceiver() || session, receipt);
      session.send(pdu.response({ message_id: receipt.id }));
    } else {
      session.send(pdu.response({ message_id: receipt.id }));
      dueReceipt(receipt, options.receipt_delay);
    }
  };
  stats.submitted++;
  if (options.resp_delay > 0) setTimeout(answer, options.resp_delay);
  else answer();
}

function onBind(session, pdu, mode) {
  if (pdu.system_id !== options.system_id || pdu.password !== options.password) {
    stats.bind_refused++;
    emit('bind_refused', { system_id: pdu.system_id, mode: mode });
    session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }));
    return;
  }
  stats.binds++;
  session.send(pdu.response({ system_id: 'node-smsc' }));
  if (options.drop_after_bind) {
    session.socket.end(); // after the bind_resp has gone out
    return;
  }
  session.bound = true;
  if (mode !== 'transmitter') {
    session.receiver = true;
    receivers.add(session);
    scheduleDelivery();
  }
  if (mode !== 'receiver') submitters.add(session);
  emit('bound', { system_id: pdu.system_id, mode: mode });
}

function serve(session) {
  // As an SMSC should: each PDU leaves at once, not held back by Nagle's algorithm.
  session.socket.setNoDelay(true);
  stats.connections++;
  session.in_flight = 0;
  session.receipts = new Set(); // sent, not yet answered
  for (const mode of ['transceiver', 'transmitter', 'receiver']) {
    session.on('bind_' + mode, (pdu) => onBind(session, pdu, mode));
  }
  session.on('submit_sm', (pdu) => onSubmit(session, pdu));
  session.on('enquire_link', (pdu) => {
    if (options.silent) return;
    stats.enquire_links++;
    session.send(pdu.response({ command_status: options.enquire_status }));
  });
  session.on('unbind', (pdu) => {
    stats.unbinds++;
    session.send(pdu.response());
    session.close();
  });
  session.on('pdu', (pdu) => {
    if (pdu.sequence_number >= 0x70000000 && pdu.isResponse()) {
      stats.raw_answers.push({
        command: pdu.command,
        command_status: pdu.command_status,
        sequence_number: pdu.sequence_number,
      });
    }
  });
  const forget = () => {
    receivers.delete(session);
    submitters.delete(session);
    // Receipts whose answer will not come now are owed again.
    owed.push(...session.receipts);
    session.receipts.clear();
    scheduleDelivery();
  };
  session.on('close', forget);
  session.on('error', forget);
}

// --- incoming messages (MO) ---------------------------------------------------------------------

let moReference = 0;

function splitText(text, size) {
  const chars = Array.from(text);
  const parts = [];
  for (let i = 0; i < chars.length; i += size) parts.push(chars.slice(i, i + size).join(''));
  return parts;
}

function injectMo(command) {
  const session = pickReceiver();
  if (!session) {
    emit('mo_done', { id: command.id, error: 'no receiver bound' });
    return;
  }
  const coding = command.coding || 'gsm';
  const statuses = [];
  let parts;
  if (coding === 'binary') {
    parts = [Buffer.from(command.text, 'utf8')];
  } else {
    const size = command.part_size || (coding === 'ucs2' ? 67 : 153);
    parts = splitText(command.text, size);
  }
  const reference = (moReference = (moReference + 1) % 256);
  const order = parts.map((_, i) => i);
  if (command.reverse) order.reverse();
  let answered = 0;
  for (const i of order) {
    const fields = {
      source_addr: command.source,
      source_addr_ton: 1,
      source_addr_npi: 1,
      destination_addr: command.destination,
      data_coding: { gsm: 0, ucs2: 8, binary: 4 }[coding],
    };
    if (parts.length > 1) {
      fields.short_message = { udh: Buffer.from([5, 0, 3, reference, parts.length, i + 1]), message: parts[i] };
    } else {
      fields.short_message = coding === 'binary' ? parts[i] : { message: parts[i] };
    }
    session.deliver_sm(fields, (resp) => {
      statuses[i] = resp.command_status;
      if (++answered === parts.length) emit('mo_done', { id: command.id, statuses: statuses });
    });
  }
}

// --- control --------------------------------------------------------------------------------

function onCommand(line) {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  switch (command.op) {
    case 'stats':
      emit('stats', Object.assign({ owed: owed.length, pending_parts: pending.size }, stats));
      break;
    case 'set':
      for (const name of Object.keys(command)) {
        if (name !== 'op') options[name] = command[name];
      }
      break;
    case 'mo':
      injectMo(command);
      break;
    case 'raw': {
      const session = pickReceiver() || submitters.values().next().value;
      if (session) session.socket.write(Buffer.from(command.hex, 'hex'));
      break;
    }
    case 'unbind':
      for (const session of [...receivers, ...submitters]) session.unbind();
      break;
    default:
      throw new Error('unknown op ' + command.op);
  }
}

recoverJournal();
const serverOptions = options.tls_cert
  ? { cert: fs.readFileSync(options.tls_cert), key: fs.readFileSync(options.tls_key) }
  : {};
const server = smpp.createServer(serverOptions, serve);
server.on('tlsClientError', () => { stats.tls_errors = (stats.tls_errors || 0) + 1; });
server.listen(options.port, '127.0.0.1', () => {
  emit('listening', { port: server.address().port });
});
readline.createInterface({ input: process.stdin }).on('line', onCommand);
process.stdin.on('end', () => process.exit(0));
