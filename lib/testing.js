'use strict'
// baileys-native/testing: the local WhatsApp-protocol test server for tests and bot CI.
// It lives in its own package, baileys-native-testing (its own addon), so a production
// install carries none of it; bot CI adds it as a dev dependency of the same version.
const { version } = require('../package.json')

function coded(message, code) {
  const e = new Error(message)
  e.code = code
  return e
}

function load() {
  let testing
  try {
    testing = require('baileys-native-testing')
  } catch (err) {
    // Only the package itself missing means "not installed"; anything else is its own error.
    if (err?.code === 'MODULE_NOT_FOUND' && String(err.message).includes("'baileys-native-testing'")) {
      throw coded(
        `baileys-native/testing needs the package baileys-native-testing: npm install --save-dev baileys-native-testing@${version}`,
        'ERR_WA_TESTING_NOT_INSTALLED',
      )
    }
    throw err
  }
  const theirs = require('baileys-native-testing/package.json').version
  if (theirs !== version) {
    throw coded(
      `baileys-native-testing ${theirs} does not match baileys-native ${version}: npm install --save-dev baileys-native-testing@${version}`,
      'ERR_WA_TESTING_VERSION',
    )
  }
  return testing
}

module.exports = load()
