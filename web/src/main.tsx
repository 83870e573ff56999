import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
// antd's styles as one prebuilt, cached stylesheet (the ConfigProvider's zeroRuntime): generating them at
// run time took ~150 ms of the first render of every page load, and more for each component shown first
import 'antd/dist/antd.css'
import './i18n'
import App from './App'

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
