// ESM entry of baileys-native/testing (the package baileys-native-testing).
import testing from './testing.js'

export const { startTestServer } = testing
export default testing
