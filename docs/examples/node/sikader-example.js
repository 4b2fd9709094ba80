// An agency's integration with SI-KADER, in Node: consumes sikader.certification.v1 (CloudEvents
// binary headers), validates each body against its published JSON Schema, processes each event
// once by ce_id (a file of processed ids that survives a restart; offsets committed after
// processing), receives webhooks verified with Standard Webhooks, and calls one API route with a
// key. Configuration by environment variables: see README.md. `--self-test` checks the Standard
// Webhooks test vector and exits.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { Kafka, logLevel } = require('kafkajs');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');
const { Webhook, WebhookVerificationError } = require('standardwebhooks');

const CERTIFIED = 'sikader.certification.CadreCertified.v1';

function env(name, fallback) {
  const value = process.env[name] || fallback;
  if (value === undefined) throw new Error(`set ${name} (see README.md)`);
  return value;
}

// One JSON line per outcome on stdout: what the CI test reads.
function report(fields) {
  console.log(JSON.stringify({ example: 'node', ...fields }));
}

// The ids already processed, one "<channel> <ce_id>" line each, appended and fsynced before the
// offset is committed (or the webhook answered): a restart skips what was done.
class ProcessedIds {
  constructor(file) {
    this.file = file;
    this.seen = new Set(fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : []);
  }
  firstTime(channel, ceId) {
    return !this.seen.has(`${channel} ${ceId}`);
  }
  done(channel, ceId) {
    const fd = fs.openSync(this.file, 'a');
    try {
      fs.writeSync(fd, `${channel} ${ceId}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.seen.add(`${channel} ${ceId}`);
  }
}

// The published JSON Schemas, one file per ce_type, from SIKADER_SCHEMA_DIR.
class Schemas {
  constructor(dir) {
    this.dir = dir;
    this.ajv = new Ajv2020({ allErrors: true });
    this.ajv.addKeyword('x-sikader'); // the schemas' own metadata (topic, service, ...)
    addFormats(this.ajv);
  }
  errors(ceType, body) {
    const id = `urn:sikader:schema:${ceType}`;
    if (!this.ajv.getSchema(id)) {
      const file = path.join(this.dir, `${ceType}.json`);
      if (!fs.existsSync(file)) return [`no published schema for ${ceType}`];
      this.ajv.addSchema(JSON.parse(fs.readFileSync(file, 'utf8')), id);
    }
    const validate = this.ajv.getSchema(id);
    return validate(body) ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`);
  }
}

// The one API call: the holder's certificates at certification, with the agency's key.
async function certificatesOf(cadreId) {
  const url = new URL(`${env('SIKADER_API_URL').replace(/\/$/, '')}/certificates`);
  url.searchParams.set('cadre_id', cadreId);
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${env('SIKADER_API_KEY')}` },
    signal: AbortSignal.timeout(10000),
  });
  if (!response.ok) throw new Error(`GET /certificates: ${response.status}`);
  return response.json();
}

// What the agency does with an event: here, look the certificate up and report it.
async function processEvent(via, ceId, ceType, body) {
  const fields = { event: 'processed', via, ce_id: ceId, ce_type: ceType, cadre_id: body.cadre_id };
  if (ceType === CERTIFIED) {
    const api = (await certificatesOf(body.cadre_id)).find((c) => c.certificate_id === body.certificate_id);
    Object.assign(fields, { certificate_number: body.certificate_number, level: body.level });
    Object.assign(fields, { api_status: api && api.status, api_level: api && api.level });
  }
  report(fields);
}

async function handleRecord(store, schemas, message) {
  const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, String(v)]));
  const ceId = headers.ce_id;
  const ceType = headers.ce_type;
  if (!store.firstTime('kafka', ceId)) {
    report({ event: 'duplicate', via: 'kafka', ce_id: ceId, ce_type: ceType });
    return;
  }
  let body;
  let errors;
  try {
    body = JSON.parse(message.value.toString());
    errors = schemas.errors(ceType, body);
  } catch (e) {
    errors = [`not JSON: ${e.message}`];
  }
  if (errors.length) {
    // a real integration would park it (a dead-letter table); here: reported, skipped
    report({ event: 'invalid', via: 'kafka', ce_id: ceId, ce_type: ceType, errors: errors.slice(0, 3) });
  } else {
    await processEvent('kafka', ceId, ceType, body);
  }
  store.done('kafka', ceId);
}

// PLAINTEXT by default; SASL_SSL with SCRAM-SHA-512 for an agency's broker account.
function kafkaSecurity() {
  const protocol = env('KAFKA_SECURITY_PROTOCOL', 'PLAINTEXT');
  const config = {};
  if (protocol.startsWith('SASL')) {
    config.sasl = {
      mechanism: env('KAFKA_SASL_MECHANISM', 'SCRAM-SHA-512').toLowerCase(),
      username: env('KAFKA_SASL_USERNAME'),
      password: env('KAFKA_SASL_PASSWORD'),
    };
  }
  if (protocol.endsWith('SSL')) {
    const ca = process.env.KAFKA_SSL_CAFILE;
    config.ssl = ca ? { ca: [fs.readFileSync(ca)] } : true;
  }
  return config;
}

async function consume(store, schemas) {
  const kafka = new Kafka({
    clientId: 'sikader-node-example',
    brokers: env('KAFKA_BOOTSTRAP_SERVERS', 'localhost:9092').split(','),
    logLevel: logLevel.WARN,
    ...kafkaSecurity(),
  });
  const consumer = kafka.consumer({ groupId: env('KAFKA_GROUP_ID', 'opd.dinkes.node-example') });
  await consumer.connect();
  await consumer.subscribe({ topic: env('KAFKA_TOPIC', 'sikader.certification.v1'), fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      await handleRecord(store, schemas, message); // throws: not committed, kafkajs retries it
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
    },
  });
  report({ event: 'ready', webhook_port: Number(env('WEBHOOK_PORT', '8090')) });
  return consumer;
}

function webhookServer(store, schemas) {
  const webhook = new Webhook(env('WEBHOOK_SECRET'));
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let data;
      try {
        data = webhook.verify(body, req.headers);
      } catch (e) {
        if (!(e instanceof WebhookVerificationError)) return res.writeHead(400).end('the body is not JSON');
        report({ event: 'rejected', via: 'webhook', reason: e.message });
        return res.writeHead(401).end('signature does not verify');
      }
      const ceId = req.headers['webhook-id'];
      const ceType = req.headers['ce-type'] || '';
      if (!store.firstTime('webhook', ceId)) {
        report({ event: 'duplicate', via: 'webhook', ce_id: ceId, ce_type: ceType });
        return res.writeHead(200).end();
      }
      const errors = schemas.errors(ceType, data);
      if (errors.length) {
        report({ event: 'invalid', via: 'webhook', ce_id: ceId, ce_type: ceType, errors: errors.slice(0, 3) });
        return res.writeHead(400).end(errors.join('; '));
      }
      try {
        await processEvent('webhook', ceId, ceType, data);
        store.done('webhook', ceId);
        res.writeHead(200).end();
      } catch (e) {
        res.writeHead(503).end(e.message); // the sender retries
      }
    });
  });
  server.listen(Number(env('WEBHOOK_PORT', '8090')));
  return server;
}

// The Standard Webhooks specification's test vector, then a fresh and a tampered message.
function selfTest() {
  const webhook = new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  const signature = webhook.sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330 * 1000), '{"test": 2432232314}');
  if (signature !== 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=') throw new Error(`test vector: ${signature}`);
  const now = new Date();
  const headers = {
    'webhook-id': 'msg_1',
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': `v1,bogus ${webhook.sign('msg_1', now, '{"a":1}')}`,
  };
  webhook.verify('{"a":1}', headers);
  let tampered = true;
  try {
    webhook.verify('{"a":2}', headers);
  } catch {
    tampered = false;
  }
  if (tampered) throw new Error('a tampered body verified');
  report({ event: 'self-test', ok: true });
}

async function main() {
  if (process.argv.includes('--self-test')) return selfTest();
  const store = new ProcessedIds(env('STATE_FILE', 'processed-ids.txt'));
  const schemas = new Schemas(env('SIKADER_SCHEMA_DIR', 'schemas'));
  const server = webhookServer(store, schemas);
  const consumer = await consume(store, schemas);
  const stop = async () => {
    await consumer.disconnect();
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
