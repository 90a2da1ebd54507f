import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { createClient, remotePlainHttp } from '../client.js';
import { formatFlags, remoteFlags } from '../flags/remote.js';
import { RemoteRegistry, StowageError } from '../../src/index.js';

export default class RepoLs extends BaseCommand {
  static override summary = 'List the repositories of a registry';
  static override description = `Lists the registry's repositories (its catalog, page by page), optionally only those under a namespace
(<registry>/<namespace>: printed relative to it) and only those after --last.`;
  static override hiddenAliases = ['repo:list'];
  static override examples = [
    '<%= config.bin %> repo ls localhost:5000',
    '<%= config.bin %> repo ls localhost:5000/example-namespace',
    '<%= config.bin %> repo ls --last last_repo localhost:5000',
    '<%= config.bin %> repo ls localhost:5000 --format json',
  ];
  static override args = {
    registry: Args.string({ description: '<registry>[/<namespace>]', required: true }),
  };
  static override flags = {
    last: Flags.string({ description: 'start after this repository', helpValue: 'last' }),
    ...remoteFlags,
    ...formatFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RepoLs);
    const slash = args.registry.indexOf('/');
    const host = slash === -1 ? args.registry : args.registry.slice(0, slash);
    const namespace = slash === -1 ? '' : `${args.registry.slice(slash + 1).replace(/\/+$/, '')}/`;
    if (host === '' || namespace === '/') throw new StowageError('INVALID_REFERENCE', `invalid registry "${args.registry}": expected <registry>[/<namespace>]`);
    const plainHttp = remotePlainHttp(flags);
    const registry = new RemoteRegistry({ registry: host, client: await createClient(host, flags), ...(plainHttp === undefined ? {} : { plainHttp }) });
    const repositories: string[] = [];
    for await (const page of registry.catalog({ signal: this.signal, ...(flags.last === undefined ? {} : { last: flags.last }) })) {
      for (const repository of page) {
        if (!repository.startsWith(namespace)) continue;
        repositories.push(repository);
        if (flags.format === 'text') this.out(repository.slice(namespace.length));
      }
    }
    if (flags.format === 'json') this.outJson({ registry: host, repositories });
  }
}
