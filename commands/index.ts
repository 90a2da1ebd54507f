/** The explicit command map oclif loads (package.json `oclif.commands`); ids use ":" for topics. */
import Attach from './attach.js';
import Copy from './copy.js';
import Discover from './discover.js';
import Login from './login.js';
import Logout from './logout.js';
import Pull from './pull.js';
import Push from './push.js';
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
  'repo:tags': RepoTags,
  login: Login,
  logout: Logout,
  version: Version,
};
