// Typings of baileys-native/testing: those of the package baileys-native-testing.
export * from 'baileys-native-testing'
