#!/usr/bin/env node
// A mongogate transaction from Node, with nothing but @grpc/grpc-js.
//
//   node scenario.js ADDR
//
// Starts a session, runs one transaction that commits and one that aborts,
// and checks after each step what a reader outside the session sees. Prints
// every step; exits 1 on the first mismatch or RPC error.
//
// The contract is loaded at run time from proto/ by @grpc/proto-loader,
// which brings its own copy of the google/protobuf well-known types.
// Install the packages with scripts/install-otherlang.sh (npm ci here).
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');
// google.api.http's definition, which the contract imports (REST paths).
const GOOGLEAPIS = path.resolve(__dirname, '..', '..', '..', 'third_party', 'googleapis');
const DEADLINE_MS = 10_000;

function loadServices() {
  const files = ['common', 'document', 'session', 'transaction'].map(
    (n) => `mongogate/v1/${n}.proto`,
  );
  const def = protoLoader.loadSync(files, {
    includeDirs: [PROTO_ROOT, GOOGLEAPIS],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(def).mongogate.v1;
}

class Mismatch extends Error {}

function check(what, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Mismatch(`${what}: got ${g}, want ${w}`);
  console.log(`  ok   ${what} = ${g}`);
}

// call invokes a unary method and resolves with its response.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + DEADLINE_MS);
    client[method](request, { deadline }, (err, resp) => (err ? reject(err) : resolve(resp)));
  });
}

// doc is a Document holding canonical Extended JSON.
const doc = (obj) => ({ json: JSON.stringify(obj) });

function randomOid() {
  return { $oid: crypto.randomBytes(12).toString('hex') };
}

class Scenario {
  constructor(v1, addr, database) {
    const creds = grpc.credentials.createInsecure();
    this.sessions = new v1.SessionService(addr, creds);
    this.txns = new v1.TransactionService(addr, creds);
    this.docs = new v1.DocumentService(addr, creds);
    this.ns = { database, collection: 'accounts' };
  }

  close() {
    for (const c of [this.sessions, this.txns, this.docs]) c.close();
  }

  async count(token, filter) {
    const resp = await call(this.docs, 'CountDocuments', {
      session_token: token, namespace: this.ns, filter: doc(filter),
    });
    return Number(resp.count); // int64 arrives as a string (longs: String)
  }

  async findOne(token, filter) {
    const resp = await call(this.docs, 'FindOne', {
      session_token: token, namespace: this.ns, filter: doc(filter),
    });
    return resp.document ? JSON.parse(resp.document.json) : null;
  }

  async insert(token, body) {
    const resp = await call(this.docs, 'InsertOne', {
      session_token: token, namespace: this.ns, document: doc(body),
    });
    console.log(`  insert ${JSON.stringify(body)} -> inserted_id ${resp.inserted_id.json}`);
    return resp;
  }

  async outcome(token) {
    const resp = await call(this.sessions, 'GetSession', { session_token: token });
    return resp.session.last_transaction.outcome;
  }

  async run() {
    console.log(`namespace ${this.ns.database}.${this.ns.collection}`);
    const started = await call(this.sessions, 'StartSession', {});
    const token = started.session.token;
    console.log(`StartSession -> token ${token.slice(0, 12)}…`);
    try {
      await this.commitPath(token);
      await this.abortPath(token);
    } finally {
      await call(this.sessions, 'EndSession', { session_token: token });
      console.log('EndSession');
    }
  }

  async commitPath(token) {
    const committed = { batch: { $numberInt: '1' } };
    const txn = await call(this.txns, 'StartTransaction', { session_token: token });
    console.log(`StartTransaction -> transaction_number ${txn.transaction_number}`);
    const aliceId = randomOid();
    await this.insert(token, {
      _id: aliceId, name: 'alice', batch: { $numberInt: '1' }, balance: { $numberLong: '100' },
    });
    await this.insert(token, {
      name: 'bob', batch: { $numberInt: '1' }, balance: { $numberDecimal: '250.75' },
    });
    check('count inside the transaction', await this.count(token, committed), 2);
    check('count outside before commit', await this.count('', committed), 0);
    check('findOne alice outside before commit', await this.findOne('', { _id: aliceId }), null);

    const resp = await call(this.txns, 'CommitTransaction', {
      session_token: token, transaction_number: txn.transaction_number,
    });
    console.log(`CommitTransaction -> committed ${resp.committed}`);
    check('commit response committed', resp.committed, true);
    check('last transaction outcome', await this.outcome(token), 'TRANSACTION_OUTCOME_COMMITTED');
    check('count outside after commit', await this.count('', committed), 2);
    const alice = await this.findOne('', { _id: aliceId });
    check('findOne alice outside after commit: _id', alice && alice._id, aliceId);
    check('findOne alice outside after commit: balance (canonical int64)',
      alice && alice.balance, { $numberLong: '100' });
  }

  async abortPath(token) {
    const aborted = { batch: { $numberInt: '2' } };
    const txn = await call(this.txns, 'StartTransaction', { session_token: token });
    console.log(`StartTransaction -> transaction_number ${txn.transaction_number}`);
    const carolId = randomOid();
    await this.insert(token, { _id: carolId, name: 'carol', batch: { $numberInt: '2' } });
    await this.insert(token, { name: 'dave', batch: { $numberInt: '2' } });
    check('count inside the transaction', await this.count(token, aborted), 2);
    check('count outside before abort', await this.count('', aborted), 0);
    check('findOne carol outside before abort', await this.findOne('', { _id: carolId }), null);

    const resp = await call(this.txns, 'AbortTransaction', {
      session_token: token, transaction_number: txn.transaction_number,
    });
    console.log(`AbortTransaction -> aborted ${resp.aborted}`);
    check('abort response aborted', resp.aborted, true);
    check('last transaction outcome', await this.outcome(token), 'TRANSACTION_OUTCOME_ABORTED');
    check('count outside after abort', await this.count('', aborted), 0);
    check('count in the session after abort', await this.count(token, aborted), 0);
    check('findOne carol outside after abort', await this.findOne('', { _id: carolId }), null);
    check('committed documents untouched', await this.count('', {}), 2);
  }
}

async function main() {
  if (process.argv.length !== 3) {
    console.error('usage: node scenario.js ADDR');
    return 2;
  }
  const database = `mg_otherlang_node_${crypto.randomBytes(4).toString('hex')}`;
  const scenario = new Scenario(loadServices(), process.argv[2], database);
  try {
    await scenario.run();
  } catch (err) {
    if (err instanceof Mismatch) {
      console.log(`FAIL ${err.message}`);
    } else if (err.code !== undefined) {
      console.log(`FAIL rpc error ${grpc.status[err.code]}: ${err.details}`);
    } else {
      throw err;
    }
    return 1;
  } finally {
    scenario.close();
  }
  console.log('PASS node scenario');
  return 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err); process.exitCode = 1; },
);
