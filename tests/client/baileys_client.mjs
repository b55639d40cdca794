// A tenant of a Node.js Baileys gateway and one of its contacts, played by the library itself.
//
//   node baileys_client.mjs create SESSION_DIR CONTACT_DIR STATE_FILE
//       Our session (useMultiFileAuthState, initAuthCreds, pre-keys through state.keys.set), a contact with its
//       own store, a real Signal session between them, a group sender key from the contact, an app-state-sync
//       key whose id contains '/', a session id with ':'. Messages the contact sends and we have not read yet go
//       to STATE_FILE.
//   node baileys_client.mjs continue SESSION_DIR STATE_FILE
//       Load SESSION_DIR with the library (after a migration, as the gateway's user) and carry on: check the
//       creds are ours (not fresh ones), read the keys back, decrypt the pending 1:1 and group messages, encrypt
//       a reply. Prints JSON.
//   node baileys_client.mjs receive CONTACT_DIR STATE_FILE REPLY_JSON
//       The contact decrypts our reply. Prints JSON.
//   node baileys_client.mjs creds SESSION_DIR
//       What the library loads as creds: prints JSON {fresh, registrationId, me}.
//
// Test-only code: not part of the collection.
import { readFileSync, writeFileSync } from 'node:fs';
import {
  BufferJSON, generateSignalPubKey, getNextPreKeys, initAuthCreds, proto, useMultiFileAuthState
} from '@whiskeysockets/baileys';
import { makeLibSignalRepository } from '@whiskeysockets/baileys/lib/Signal/libsignal.js';

const OUR_JID = '4915100000001:3@s.whatsapp.net';   // device 3: the Signal address is 4915100000001.3
const CONTACT_JID = '4915100000002@s.whatsapp.net';
const GROUP = '120363000000000001@g.us';
const APP_STATE_KEY_ID = 'AAAAAMh0/yk=';              // key ids are base64: they contain '/'
const COLON_SESSION_ID = '4915100000009:12.0';          // written by the library as session-4915100000009-12.0.json

const b64 = (buf) => Buffer.from(buf).toString('base64');
const unb64 = (text) => Buffer.from(text, 'base64');
const save = (file, value) => writeFileSync(file, JSON.stringify(value, null, 2));
const load = (file) => JSON.parse(readFileSync(file, 'utf-8'));

function fail(message) {
  console.error(message);
  process.exit(1);
}

async function open(dir) {
  const { state, saveCreds } = await useMultiFileAuthState(dir);
  return { state, saveCreds, repo: makeLibSignalRepository(state) };
}

async function create(sessionDir, contactDir, stateFile) {
  const us = await open(sessionDir);
  const contact = await open(contactDir);
  if (us.state.creds.me) fail(`${sessionDir} already holds a session`);
  us.state.creds.me = { id: OUR_JID, name: 'tenant' };
  const { update, preKeys } = await getNextPreKeys(us.state, 5);
  Object.assign(us.state.creds, update);
  await us.saveCreds();
  contact.state.creds.me = { id: CONTACT_JID, name: 'contact' };
  await contact.saveCreds();

  // The contact fetches our key bundle (what the server hands out) and opens a Signal session to us.
  const preKeyId = Number(Object.keys(preKeys)[0]);
  const { creds } = us.state;
  await contact.repo.injectE2ESession({
    jid: OUR_JID,
    session: {
      registrationId: creds.registrationId,
      identityKey: generateSignalPubKey(creds.signedIdentityKey.public),
      signedPreKey: {
        keyId: creds.signedPreKey.keyId,
        publicKey: generateSignalPubKey(creds.signedPreKey.keyPair.public),
        signature: creds.signedPreKey.signature
      },
      preKey: { keyId: preKeyId, publicKey: generateSignalPubKey(preKeys[preKeyId].public) }
    }
  });
  const first = await contact.repo.encryptMessage({ jid: OUR_JID, data: Buffer.from('hello before the move') });
  const plain1 = await us.repo.decryptMessage({ jid: CONTACT_JID, type: first.type, ciphertext: first.ciphertext });
  if (Buffer.from(plain1).toString() !== 'hello before the move') fail('first message did not decrypt');
  const answer = await us.repo.encryptMessage({ jid: CONTACT_JID, data: Buffer.from('got it') });
  const plain2 = await contact.repo.decryptMessage({ jid: OUR_JID, type: answer.type, ciphertext: answer.ciphertext });
  if (Buffer.from(plain2).toString() !== 'got it') fail('our answer did not decrypt');
  // Sent before the migration, read after it.
  const pending = await contact.repo.encryptMessage({ jid: OUR_JID, data: Buffer.from('sent before, read after') });

  // Group: the contact's sender key reaches us, one group message is read now, one after the migration.
  const g1 = await contact.repo.encryptGroupMessage({ group: GROUP, meId: CONTACT_JID, data: Buffer.from('group 1') });
  await us.repo.processSenderKeyDistributionMessage({
    item: { groupId: GROUP, axolotlSenderKeyDistributionMessage: g1.senderKeyDistributionMessage },
    authorJid: CONTACT_JID
  });
  const gplain = await us.repo.decryptGroupMessage({ group: GROUP, authorJid: CONTACT_JID, msg: g1.ciphertext });
  if (Buffer.from(gplain).toString() !== 'group 1') fail('first group message did not decrypt');
  const g2 = await contact.repo.encryptGroupMessage({ group: GROUP, meId: CONTACT_JID, data: Buffer.from('group 2, read after') });

  // Keys written straight through state.keys.set, with ids the file names have to encode.
  const keyData = Buffer.from('0123456789abcdef0123456789abcdef');
  await us.state.keys.set({
    'app-state-sync-key': {
      [APP_STATE_KEY_ID]: proto.Message.AppStateSyncKeyData.fromObject({
        keyData, fingerprint: { rawId: 7, currentIndex: 1, deviceIndexes: [0, 3] }, timestamp: 1700000000
      })
    },
    session: { [COLON_SESSION_ID]: Buffer.from('a session record stored under an id with a colon') }
  });

  save(stateFile, {
    registrationId: creds.registrationId,
    me: OUR_JID,
    preKeyUsed: preKeyId,
    preKeysLeft: Object.keys(preKeys).map(Number).filter((id) => id !== preKeyId),
    pending: { type: pending.type, ciphertext: b64(pending.ciphertext) },
    pendingGroup: b64(g2.ciphertext),
    appStateKeyId: APP_STATE_KEY_ID,
    appStateKeyData: b64(keyData),
    colonSessionId: COLON_SESSION_ID
  });
}

async function carryOn(sessionDir, stateFile) {
  const expected = load(stateFile);
  const us = await open(sessionDir);
  const { creds, keys } = us.state;
  const out = {
    fresh: !creds.me,
    registrationId: creds.registrationId,
    me: creds.me ? creds.me.id : null
  };
  if (out.fresh || creds.registrationId !== expected.registrationId) {
    console.log(JSON.stringify(out));
    return;
  }
  const appKeys = await keys.get('app-state-sync-key', [expected.appStateKeyId]);
  const appKey = appKeys[expected.appStateKeyId];
  out.appStateKey = appKey ? b64(appKey.keyData) === expected.appStateKeyData : false;
  const sessions = await keys.get('session', [expected.colonSessionId]);
  out.colonSession = Boolean(sessions[expected.colonSessionId]);
  const preKeys = await keys.get('pre-key', expected.preKeysLeft.map(String));
  out.preKeys = expected.preKeysLeft.filter((id) => preKeys[String(id)]).length;
  const plain = await us.repo.decryptMessage({
    jid: CONTACT_JID, type: expected.pending.type, ciphertext: unb64(expected.pending.ciphertext)
  });
  out.decrypted = Buffer.from(plain).toString();
  const gplain = await us.repo.decryptGroupMessage({
    group: GROUP, authorJid: CONTACT_JID, msg: unb64(expected.pendingGroup)
  });
  out.groupDecrypted = Buffer.from(gplain).toString();
  const reply = await us.repo.encryptMessage({ jid: CONTACT_JID, data: Buffer.from('reply after the move') });
  out.reply = { type: reply.type, ciphertext: b64(reply.ciphertext) };
  console.log(JSON.stringify(out));
}

async function receive(contactDir, stateFile, replyJson) {
  const contact = await open(contactDir);
  const reply = JSON.parse(replyJson);
  const plain = await contact.repo.decryptMessage({
    jid: OUR_JID, type: reply.type, ciphertext: unb64(reply.ciphertext)
  });
  console.log(JSON.stringify({ decrypted: Buffer.from(plain).toString() }));
}

async function credsOf(sessionDir) {
  const { state } = await useMultiFileAuthState(sessionDir);
  const fresh = initAuthCreds();
  console.log(JSON.stringify({
    fresh: !state.creds.me,
    registrationId: state.creds.registrationId,
    me: state.creds.me ? state.creds.me.id : null,
    shape: Object.keys(fresh).every((key) => key in state.creds)
  }, BufferJSON.replacer));
}

const [command, ...args] = process.argv.slice(2);
const commands = { create, continue: carryOn, receive, creds: credsOf };
if (!commands[command]) fail(`usage: ${process.argv[1]} create|continue|receive|creds ...`);
await commands[command](...args);
