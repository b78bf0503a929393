#!/usr/bin/env node
/** `spheregate`: the service and its admin commands. */
import './production-mode.js'; // first: see the module
import { parseArgs } from 'node:util';
import { ConfigError, CONFIG_VARIABLES, loadConfig } from './config.js';
import { createLogger } from '../infra/log.js';
import { startSpheregate } from './start.js';
import { closeOnSignals } from './shutdown.js';

const HELP = `Usage: spheregate <command>

Commands:
  start        Run the gateway (GraphQL) and the broker (MQTT over mutual TLS) in one process.
  config       Print the configuration variables, their defaults and meaning.
  help         Show this help.

Configuration comes from the environment; see \`spheregate config\` and the README.`;

async function start(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel });
  const running = await startSpheregate(config, { log });
  closeOnSignals(() => running.close(), log);
  if (running.adminKeyGenerated) {
    // Shown once, on the terminal only (never through the logger), as the issue of a fresh install asks.
    process.stderr.write(
      `\nA platform-admin key was generated and saved to ${running.adminKeyFile} (mode 0600):\n\n  ${running.adminKey}\n\n`,
    );
  }
  log.info(
    {
      graphql: `http://localhost:${running.gateway.port}/graphql`,
      subscriptions: `ws://localhost:${running.gateway.port}/graphql`,
      mqtt: `mqtts://localhost:${running.broker.port}`,
      downloads: `https://localhost:${running.downloads.port}`,
      dataDir: config.dataDir,
      database: config.databaseUrl ? 'postgresql' : 'sqlite',
      adminKeyFile: running.adminKeyFile ?? '(from SPHEREGATE_ADMIN_KEY)',
      rootCaFile: running.rootCaFile,
    },
    'Spheregate is running',
  );
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  const command = values.help ? 'help' : (positionals[0] ?? 'start');
  switch (command) {
    case 'start':
      await start();
      return -1; // keep running
    case 'config':
      for (const [name, v] of Object.entries(CONFIG_VARIABLES)) {
        process.stdout.write(`${name.padEnd(28)} default: ${v.default || '(unset)'}\n${' '.repeat(28)} ${v.doc}\n`);
      }
      return 0;
    case 'help':
      process.stdout.write(`${HELP}\n`);
      return 0;
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${HELP}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`spheregate failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
