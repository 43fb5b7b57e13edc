// ESM entry of baileys-native-testing (and so of `baileys-native/testing`).
import testing from './index.js'

export const { startTestServer } = testing
export default testing
