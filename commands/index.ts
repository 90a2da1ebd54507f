/** The explicit command map oclif loads (package.json `oclif.commands`); ids use ":" for topics. */
import Attach from './attach.js';
import BlobDelete from './blob/delete.js';
import BlobFetch from './blob/fetch.js';
import BlobPush from './blob/push.js';
import Copy from './copy.js';
import Discover from './discover.js';
import Login from './login.js';
import Logout from './logout.js';
import ManifestDelete from './manifest/delete.js';
import ManifestFetchConfig from './manifest/fetch-config.js';
import ManifestFetch from './manifest/fetch.js';
import ManifestIndexCreate from './manifest/index/create.js';
import ManifestIndexUpdate from './manifest/index/update.js';
import ManifestPush from './manifest/push.js';
import Pull from './pull.js';
import Push from './push.js';
import RepoLs from './repo/ls.js';
import RepoTags from './repo/tags.js';
import Resolve from './resolve.js';
import Tag from './tag.js';
import Version from './version.js';

export const commands = {
  push: Push,
  pull: Pull,
  tag: Tag,
  resolve: Resolve,
  attach: Attach,
  discover: Discover,
  copy: Copy,
  'manifest:fetch': ManifestFetch,
  'manifest:fetch-config': ManifestFetchConfig,
  'manifest:push': ManifestPush,
  'manifest:delete': ManifestDelete,
  'manifest:index:create': ManifestIndexCreate,
  'manifest:index:update': ManifestIndexUpdate,
  'blob:fetch': BlobFetch,
  'blob:push': BlobPush,
  'blob:delete': BlobDelete,
  'repo:ls': RepoLs,
  'repo:tags': RepoTags,
  login: Login,
  logout: Logout,
  version: Version,
};
