import { downFilter, downTopic, upTopic } from '../contract/mqtt/topics.js';
import { authorizePublishTopic, authorizeSubscribeFilter, mayDeliver } from './acl.js';

const own = 'A'.repeat(128);
const other = 'B'.repeat(128);

describe('authorizePublishTopic', () => {
  test('accepts each known up/ message of the device itself', () => {
    expect(authorizePublishTopic(own, upTopic(own, 'status'))).toEqual({ kind: 'accept', message: 'status' });
  });

  test.each([
    ['an unknown up/ message', `devices/${own}/up/firmware`],
    ['an up/ message with extra levels', `devices/${own}/up/status/extra`],
    ['an empty message level', `devices/${own}/up/`],
    ['a bare up level', `devices/${own}/up`],
    ['an unknown direction', `devices/${own}/sideways/status`],
    ['an empty direction', `devices/${own}//status`],
    ['the subtree root with a trailing slash', `devices/${own}/`],
  ])('rejects %s inside the own subtree as UNKNOWN_TOPIC', (_name, topic) => {
    expect(authorizePublishTopic(own, topic)).toMatchObject({ kind: 'reject', code: 'UNKNOWN_TOPIC' });
  });

  test.each([
    ['its own down/ message', downTopic(own, 'error')],
    ['an unknown down/ topic', `devices/${own}/down/anything/else`],
  ])('rejects %s as FORBIDDEN (the service writes down/)', (_name, topic) => {
    expect(authorizePublishTopic(own, topic)).toMatchObject({ kind: 'reject', code: 'FORBIDDEN' });
  });

  test.each([
    ['another device\'s up/ message', upTopic(other, 'status'), 'FOREIGN_DEVICE_TOPIC'],
    ['another device\'s down/ message', downTopic(other, 'error'), 'FOREIGN_DEVICE_TOPIC'],
    ['its own id in lower case', upTopic(own.toLowerCase(), 'status'), 'FOREIGN_DEVICE_TOPIC'],
    ['its id as a prefix of a longer one', `devices/${own}A/up/status`, 'FOREIGN_DEVICE_TOPIC'],
    ['the subtree root without a slash', `devices/${own}`, 'FOREIGN_DEVICE_TOPIC'],
    ['the devices/ root', 'devices/', 'FOREIGN_DEVICE_TOPIC'],
    ['$SYS', '$SYS/broker/new/clients', 'SYSTEM_TOPIC'],
    ['any $ topic', '$share/x/y', 'SYSTEM_TOPIC'],
    ['a topic outside devices/', 'hello/world', 'FOREIGN_TOPIC'],
    ['devices without the slash', 'devicesX/up/status', 'FOREIGN_TOPIC'],
    ['a leading slash', `/devices/${own}/up/status`, 'FOREIGN_TOPIC'],
  ])('calls %s a violation', (_name, topic, reason) => {
    expect(authorizePublishTopic(own, topic)).toEqual({ kind: 'violation', reason });
  });
});

describe('authorizeSubscribeFilter', () => {
  test.each([
    downFilter(own),
    downTopic(own, 'error'),
    `devices/${own}/down/+`,
    `devices/${own}/down/+/x`,
    `devices/${own}/down/future/#`,
  ])('grants %s', (filter) => {
    expect(authorizeSubscribeFilter(own, filter)).toEqual({ kind: 'grant' });
  });

  test.each([
    '#',
    '+',
    '$SYS/#',
    '$SYS/+/new/clients',
    'devices/#',
    'devices/+/down/#',
    'devices/+/+/+',
    `devices/${own}/#`,
    `devices/${own}/+/error`,
    `devices/${own}/up/#`,
    upTopic(own, 'status'),
    `devices/${own}/down`,
    `devices/${own}/down/`,
    `devices/${own}/down/#/x`,
    `devices/${own}/down/a#`,
    `devices/${own}/down/a+`,
    downFilter(other),
    downTopic(other, 'error'),
    downFilter(own.toLowerCase()),
  ])('refuses %s', (filter) => {
    expect(authorizeSubscribeFilter(own, filter)).toEqual({ kind: 'refuse', reason: 'NOT_OWN_DOWN_FILTER' });
  });
});

describe('mayDeliver', () => {
  test('the service\'s messages on the recipient\'s own down/ topics', () => {
    expect(mayDeliver(own, downTopic(own, 'error'), 'service')).toBe(true);
  });

  test.each([
    ['another device\'s down/ topic', downTopic(other, 'error'), 'service'],
    ['an up/ topic', upTopic(own, 'status'), 'service'],
    ['$SYS', '$SYS/x/heartbeat', 'service'],
    ['anything a device published, even on the recipient\'s down/', downTopic(own, 'error'), 'device'],
    ['another device\'s status', upTopic(other, 'status'), 'device'],
  ] as const)('never %s', (_name, topic, origin) => {
    expect(mayDeliver(own, topic, origin)).toBe(false);
  });
});
